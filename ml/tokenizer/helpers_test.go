package tokenizer

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// testTokenizers caches the tokenizers under testdata, which take a moment to
// load, across the tests of one run.
var testTokenizers sync.Map // name -> *Tokenizer

// loadTestdata loads testdata/<name>: tokenizer.json or tokenizer.json.gz and
// tokenizer_config.json when present.
func loadTestdata(t testing.TB, name string) *Tokenizer {
	t.Helper()
	if tok, ok := testTokenizers.Load(name); ok {
		return tok.(*Tokenizer)
	}
	if tok, ok := loadVariant(t, name); ok {
		testTokenizers.Store(name, tok)
		return tok
	}
	dir := filepath.Join("testdata", name)
	tj, err := readMaybeGzip(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cj, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	tok, err := FromJSON(tj, cj)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	testTokenizers.Store(name, tok)
	return tok
}

func readMaybeGzip(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	b, err := os.ReadFile(path + ".gz")
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// testCorpus returns testdata/corpus.json, the texts the golden ids cover.
func testCorpus(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "corpus.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c []string
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}
