package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// The generated dataset is an instruct dataset of about the size asked,
// the same for the same seed, that data check passes.
func TestWriteSynthetic(t *testing.T) {
	var a, b bytes.Buffer
	rows, err := writeSynthetic(&a, 300_000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeSynthetic(&b, 300_000, 7); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two datasets of one seed differ")
	}
	if n := a.Len(); n < 300_000 || n > 302_000 {
		t.Fatalf("%d bytes for 300000 asked", n)
	}
	path := filepath.Join(t.TempDir(), "synthetic.jsonl")
	if _, err := writeSyntheticFile(path, 300_000, 7); err != nil {
		t.Fatal(err)
	}
	rep, err := data.Check(path, data.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Type != crucible.TaskInstruct || int64(rep.Rows) != rows {
		t.Fatalf("check: %d rows of %s, %v; want %d instruct rows", rep.Rows, rep.Type, rep.Errors, rows)
	}
}
