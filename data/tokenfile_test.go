package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tokens"
)

// writeLines writes a JSONL file of the given rows.
func writeLines(t *testing.T, dir, name string, rows []map[string]any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// inMemory tokenizes a dataset the way training did before token stores:
// every example read, then tokenized in one slice, empty rows skipped.
func inMemory(t *testing.T, path string, typ crucible.TaskType, opt TokenizeOptions) []Sequence {
	t.Helper()
	typ, m, _, err := Settle(path, typ, crucible.ColumnMapping{})
	if err != nil {
		t.Fatal(err)
	}
	exs, err := Examples(path, typ, m)
	if err != nil {
		t.Fatal(err)
	}
	var kept []Example
	for _, ex := range exs {
		if !ex.Empty() && (typ != crucible.TaskDPO || (strings.TrimSpace(ex.Chosen) != "" && strings.TrimSpace(ex.Rejected) != "")) {
			kept = append(kept, ex)
		}
	}
	tok := byteTokenizer{addBOS: true}
	if typ == crucible.TaskDPO {
		pairs, _, err := TokenizePairs(tok, kept, opt)
		if err != nil {
			t.Fatal(err)
		}
		var out []Sequence
		for _, p := range pairs {
			out = append(out, p.Chosen, p.Rejected)
		}
		return out
	}
	if typ == crucible.TaskText {
		opt.MaxLength = 0
	}
	seqs, _, err := TokenizeAll(tok, kept, opt)
	if err != nil {
		t.Fatal(err)
	}
	if typ == crucible.TaskText {
		seqs = Windows(seqs, 24)
	}
	var out []Sequence
	for _, s := range seqs {
		if len(s.IDs) >= 2 {
			out = append(out, s)
		}
	}
	return out
}

func tokenRows(typ crucible.TaskType, n int) []map[string]any {
	rows := make([]map[string]any, n)
	for i := range rows {
		q := fmt.Sprintf("What is %d plus %d?", i, i%7)
		a := fmt.Sprintf("It is %d.", i+i%7)
		switch typ {
		case crucible.TaskInstruct:
			rows[i] = map[string]any{"instruction": q, "output": a}
			if i%17 == 3 {
				rows[i]["output"] = " " // nothing to learn
			}
		case crucible.TaskChat:
			rows[i] = map[string]any{"messages": []map[string]string{{"role": "user", "content": q}, {"role": "assistant", "content": a}, {"role": "user", "content": "And " + q}, {"role": "assistant", "content": a}}}
		case crucible.TaskDPO:
			rows[i] = map[string]any{"prompt": q, "chosen": a, "rejected": "I do not know, maybe " + a}
			if i%13 == 5 {
				rows[i]["rejected"] = ""
			}
		case crucible.TaskText:
			rows[i] = map[string]any{"text": strings.Repeat(q+" "+a+" ", 1+i%4)}
		}
	}
	return rows
}

// The store holds exactly the sequences the in-memory path made, in order,
// for every task type, whatever the number of workers.
func TestWriteTokenFileMatchesInMemory(t *testing.T) {
	for _, typ := range []crucible.TaskType{crucible.TaskInstruct, crucible.TaskChat, crucible.TaskDPO, crucible.TaskText} {
		for _, workers := range []int{1, 3} {
			dir := t.TempDir()
			path := writeLines(t, dir, "d.jsonl", tokenRows(typ, 700))
			opt := TokenizeOptions{MaxLength: 24}
			if typ == crucible.TaskChat {
				opt.MaxLength = 70
			}
			want := inMemory(t, path, typ, opt)
			out := filepath.Join(dir, "d.tokens")
			src, meta, err := WriteTokenFile(context.Background(), path, out, TokenFileOptions{Type: typ, Tokenizer: byteTokenizer{addBOS: true}, VocabSize: 262, Tokenize: opt, Workers: workers})
			if err != nil {
				t.Fatal(err)
			}
			st, err := tokens.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Verify(); err != nil {
				t.Fatal(err)
			}
			if st.Len() != len(want) || meta.Sequences != int64(len(want)) {
				t.Fatalf("%s: %d sequences, want %d", typ, st.Len(), len(want))
			}
			for i, w := range want {
				got := st.Seq(i)
				if !slices.Equal(got.IDs, w.IDs) || !slices.Equal(got.Labels, w.Labels) {
					t.Fatalf("%s workers %d: sequence %d differs", typ, workers, i)
				}
			}
			if src.Rows != 700 || src.TaskType != typ || (typ == crucible.TaskText) != src.Windows {
				t.Fatalf("%s: source %+v", typ, src)
			}
			if meta.Kind != tokens.KindPairs && typ == crucible.TaskDPO {
				t.Fatalf("dpo store of kind %s", meta.Kind)
			}
			// The row count is data check's.
			rep, err := Check(path, CheckOptions{Type: typ})
			if err != nil {
				t.Fatal(err)
			}
			if int64(rep.Rows) != src.Rows {
				t.Fatalf("%s: store counts %d rows, data check %d", typ, src.Rows, rep.Rows)
			}
			st.Close()
		}
	}
}

// A broken row far into the file stops tokenization with its line, and
// nothing is left behind.
func TestWriteTokenFileBadRowLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	rows := tokenRows(crucible.TaskInstruct, 3000)
	path := writeLines(t, dir, "d.jsonl", rows)
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	lines[2716] = `{"instruction": "broken", "output": "row"` + "\n"
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
	out := filepath.Join(dir, "out", "d.tokens")
	os.MkdirAll(filepath.Dir(out), 0o755)
	_, _, err := WriteTokenFile(context.Background(), path, out, TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 262, Workers: 2})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "d.jsonl:2717") {
		t.Fatalf("got %v, want an EINVALID error at d.jsonl:2717", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	// A row the formatter refuses is named too.
	lines[2716] = `{"instruction": 5, "output": "row"}` + "\n"
	os.WriteFile(path, []byte(strings.Join(lines, "")), 0o644)
	_, _, err = WriteTokenFile(context.Background(), path, out, TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 262})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "d.jsonl:2717") {
		t.Fatalf("got %v", err)
	}
	// Cancelling stops it and leaves nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path2 := writeLines(t, dir, "ok.jsonl", rows)
	if _, _, err := WriteTokenFile(ctx, path2, out, TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 262}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestWriteTokenFileNothingUsable(t *testing.T) {
	dir := t.TempDir()
	path := writeLines(t, dir, "d.jsonl", []map[string]any{{"instruction": "a", "output": ""}, {"instruction": "b", "output": " "}})
	out := filepath.Join(dir, "d.tokens")
	_, _, err := WriteTokenFile(context.Background(), path, out, TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 262})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "no usable rows") {
		t.Fatalf("got %v", err)
	}
	// An id past the vocabulary is refused with the row's position.
	path = writeLines(t, dir, "e.jsonl", []map[string]any{{"instruction": "a", "output": "zzz"}})
	_, _, err = WriteTokenFile(context.Background(), path, out, TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 100})
	if err == nil || !strings.Contains(err.Error(), "e.jsonl:1") || !strings.Contains(err.Error(), "outside the vocabulary") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("store written: %v", err)
	}
}

func TestTokenCache(t *testing.T) {
	dir := t.TempDir()
	path := writeLines(t, dir, "d.jsonl", tokenRows(crucible.TaskInstruct, 300))
	var logs []string
	cache := TokenCache{Dir: filepath.Join(dir, "cache"), Log: func(s string) { logs = append(logs, s) }}
	opt := TokenFileOptions{Tokenizer: byteTokenizer{}, VocabSize: 262, TokenizerSHA256: strings.Repeat("a", 64), Tokenize: TokenizeOptions{MaxLength: 30}}
	st, src, hit, err := cache.Tokens(context.Background(), path, opt)
	if err != nil || hit {
		t.Fatalf("first: hit %v, %v", hit, err)
	}
	file := st.Path()
	st.Close()
	if src.Reason == "" || src.DataSHA256 == "" || src.TaskType != crucible.TaskInstruct {
		t.Fatalf("source %+v", src)
	}
	st, src2, hit, err := cache.Tokens(context.Background(), path, opt)
	if err != nil || !hit || st.Path() != file || src2.Reason != src.Reason {
		t.Fatalf("second: hit %v, %v", hit, err)
	}
	st.Close()
	// Another maximum length is another store.
	opt2 := opt
	opt2.Tokenize.MaxLength = 31
	st, _, hit, _ = cache.Tokens(context.Background(), path, opt2)
	if hit || st.Path() == file {
		t.Fatal("a different maximum length reused the store")
	}
	st.Close()
	// A corrupted store is found and rebuilt.
	b, _ := os.ReadFile(file)
	b[len(b)-100] ^= 0xff
	os.WriteFile(file, b, 0o644)
	st, _, hit, err = cache.Tokens(context.Background(), path, opt)
	if err != nil || hit {
		t.Fatalf("corrupt: hit %v, %v", hit, err)
	}
	if err := st.Verify(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if !slices.ContainsFunc(logs, func(s string) bool { return strings.Contains(s, "unusable") }) {
		t.Fatalf("no log of the rebuild: %v", logs)
	}
	// The size cap removes the least recently used store, not the new one.
	files, _ := filepath.Glob(filepath.Join(cache.Dir, "*.tokens.safetensors"))
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	cache.MaxBytes = 1
	opt3 := opt
	opt3.Tokenize.MaxLength = 40
	st, _, _, err = cache.Tokens(context.Background(), path, opt3)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	files, _ = filepath.Glob(filepath.Join(cache.Dir, "*.tokens.safetensors"))
	if len(files) != 1 || files[0] != st.Path() {
		t.Fatalf("after eviction: %v", files)
	}
}

// CountTokens, in parallel, counts what tokenizing each row counts.
func TestCountTokens(t *testing.T) {
	dir := t.TempDir()
	for _, typ := range []crucible.TaskType{crucible.TaskInstruct, crucible.TaskDPO} {
		path := writeLines(t, dir, string(typ)+".jsonl", tokenRows(typ, 900))
		tok := byteTokenizer{addBOS: true}
		_, m, _, err := Settle(path, typ, crucible.ColumnMapping{})
		if err != nil {
			t.Fatal(err)
		}
		exs, err := Examples(path, typ, m)
		if err != nil {
			t.Fatal(err)
		}
		var want int64
		for _, ex := range exs {
			if typ == crucible.TaskDPO {
				if p, err := TokenizePair(tok, ex, TokenizeOptions{}); err == nil {
					want += int64(len(p.Chosen.IDs) + len(p.Rejected.IDs) - p.PromptLen)
				}
				continue
			}
			s, _ := Tokenize(tok, ex, TokenizeOptions{})
			want += int64(len(s.IDs))
		}
		got, rows, err := CountTokens(context.Background(), path, typ, m, tok, TokenizeOptions{}, 0)
		if err != nil || got != want || want == 0 || rows != 900 {
			t.Fatalf("%s: counted %d in %d rows, %v; want %d", typ, got, rows, err, want)
		}
		// Asked for the first rows, it stops there.
		if got, rows, err := CountTokens(context.Background(), path, typ, m, tok, TokenizeOptions{}, 300); err != nil || rows != 300 || got >= want || got <= 0 {
			t.Fatalf("%s: the first 300 rows: %d tokens in %d rows, %v", typ, got, rows, err)
		}
	}
	path := writeLines(t, dir, "bad.jsonl", []map[string]any{{"instruction": "a", "output": "b"}, {"instruction": 3, "output": "b"}})
	if _, _, err := CountTokens(context.Background(), path, crucible.TaskInstruct, crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}, byteTokenizer{}, TokenizeOptions{}, 0); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Fatalf("bad row: %v", err)
	}
}

// The cache hashes the dataset while it tokenizes: the store records the
// dataset's hash, a hit stops the speculative tokenization, and neither a
// hit, a miss nor a bad row leaves a pending file behind.
func TestTokenCacheHashesWhileTokenizing(t *testing.T) {
	dir := t.TempDir()
	path := writeLines(t, dir, "d.jsonl", tokenRows(crucible.TaskInstruct, 3000))
	cache := TokenCache{Dir: filepath.Join(dir, "cache")}
	opt := TokenFileOptions{Tokenizer: byteTokenizer{}, VocabSize: 262, TokenizerSHA256: strings.Repeat("b", 64), Tokenize: TokenizeOptions{MaxLength: 30}}
	pending := func() []string {
		m, _ := filepath.Glob(filepath.Join(cache.Dir, pendingPrefix+"*"))
		tmp, _ := filepath.Glob(filepath.Join(cache.Dir, "*tokens-tmp"))
		return append(m, tmp...)
	}
	want, err := DatasetSHA256(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantHit := range []bool{false, true, true} {
		st, src, hit, err := cache.Tokens(context.Background(), path, opt)
		if err != nil || hit != wantHit {
			t.Fatalf("run %d: hit %v, %v", i, hit, err)
		}
		if src.DataSHA256 != want {
			t.Fatalf("run %d: data hash %s, want %s", i, src.DataSHA256, want)
		}
		if err := st.Verify(); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if left := pending(); len(left) > 0 {
			t.Fatalf("run %d left %v", i, left)
		}
	}
	// The same store as one written with the hash known beforehand.
	opt2 := opt
	opt2.DataSHA256 = want
	st, _, hit, err := cache.Tokens(context.Background(), path, opt2)
	if err != nil || !hit {
		t.Fatalf("with the hash given: hit %v, %v", hit, err)
	}
	st.Close()
	// A bad row deep inside is reported with its line, and leaves nothing.
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(b), "\n")
	lines[2899] = `{"instruction": "broken` + "\n"
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o644)
	before, _ := os.ReadDir(cache.Dir)
	_, _, _, err = cache.Tokens(context.Background(), bad, opt)
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "bad.jsonl:2900") {
		t.Fatalf("got %v, want an EINVALID error at bad.jsonl:2900", err)
	}
	if after, _ := os.ReadDir(cache.Dir); len(after) != len(before) {
		t.Fatalf("the bad dataset left %d files, had %d", len(after), len(before))
	}
}

// HashData records the dataset's hash, computed while tokenizing.
func TestWriteTokenFileHashData(t *testing.T) {
	dir := t.TempDir()
	path := writeLines(t, dir, "d.jsonl", tokenRows(crucible.TaskInstruct, 500))
	want, _ := DatasetSHA256(context.Background(), path)
	src, _, err := WriteTokenFile(context.Background(), path, filepath.Join(dir, "d.tokens"), TokenFileOptions{Type: crucible.TaskInstruct, Tokenizer: byteTokenizer{}, VocabSize: 262, HashData: true})
	if err != nil || src.DataSHA256 != want || want == "" {
		t.Fatalf("%v: hash %q, want %q", err, src.DataSHA256, want)
	}
}
