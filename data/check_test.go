package data

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

type pqQA struct {
	Question string `parquet:"question"`
	Answer   string `parquet:"answer"`
}

type pqChat struct {
	ID       int64   `parquet:"id"`
	Messages []pqMsg `parquet:"messages,list"`
}

// TestCheckGolden checks whole reports against golden files. The Parquet
// inputs are written by the test itself with -update (and committed).
func TestCheckGolden(t *testing.T) {
	if *update {
		writeParquet(t, "testdata/check/messages.parquet", []pqChat{
			{1, []pqMsg{{"user", "Hi"}, {"assistant", "Hello!"}}},
			{2, []pqMsg{{"system", "Be kind."}, {"user", "Bye"}, {"assistant", "Goodbye."}}},
			{3, []pqMsg{{"user", "Hi"}, {"assistant", "Hello again!"}}},
		})
		writeParquet(t, "testdata/check/schema.parquet", []pqQA{{Question: "x", Answer: "y"}})
	}
	instruct := crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}
	tok := byteTokenizer{addBOS: true}
	tests := []struct {
		name string
		path string
		opt  CheckOptions
		json bool
	}{
		{name: "alpaca", path: "alpaca.jsonl", opt: CheckOptions{Tokenizer: tok, MaxLength: 40, Split: SplitOptions{MaxTestRows: 1}}},
		{name: "alpaca_json", path: "alpaca.jsonl", opt: CheckOptions{Tokenizer: tok, MaxLength: 40}, json: true},
		{name: "chat", path: "chat.json", opt: CheckOptions{Tokenizer: tok}},
		{name: "dpo", path: "dpo.csv", opt: CheckOptions{Tokenizer: tok, MaxLength: 30}},
		{name: "bad", path: "bad.jsonl", opt: CheckOptions{Type: crucible.TaskInstruct, Mapping: instruct}},
		{name: "bad_quote", path: "bad_quote.csv"},
		{name: "text", path: "text.jsonl", opt: CheckOptions{Tokenizer: tok}},
		{name: "nothing", path: "nothing.jsonl"},
		{name: "empty", path: "empty.jsonl"},
		{name: "chat_types", path: "chat_types.jsonl", opt: CheckOptions{Type: crucible.TaskChat}},
		{name: "messages_parquet", path: "messages.parquet", opt: CheckOptions{Tokenizer: tok}},
		{name: "schema_parquet", path: "schema.parquet", opt: CheckOptions{Type: crucible.TaskInstruct, Mapping: instruct}},
		{name: "hfdir", path: "hfdir"},
		{name: "max_errors", path: "bad.jsonl", opt: CheckOptions{Type: crucible.TaskInstruct, Mapping: instruct, MaxErrors: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Check(filepath.Join("testdata", "check", tt.path), tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			golden := filepath.Join("testdata", "check", tt.name+".golden")
			if tt.json {
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				enc.Encode(rep)
				golden += ".json"
			} else {
				rep.WriteText(&buf)
			}
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("report differs from %s:\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestCheckCounts(t *testing.T) {
	rep, err := Check("testdata/check/alpaca.jsonl", CheckOptions{Tokenizer: byteTokenizer{addBOS: true}, MaxLength: 40})
	if err != nil {
		t.Fatal(err)
	}
	// Rows 1 and 4 are identical; rows 2 and 3 share a prompt with
	// different outputs; row 5 has an empty output.
	if rep.Rows != 6 || rep.DuplicateRows != 1 || rep.DuplicatePrompts != 2 || rep.EmptyRows != 1 || !rep.OK() {
		t.Errorf("report %+v", rep)
	}
	// Lengths (byte tokens + BOS + EOS): the longest row is BOS + 48-byte
	// prompt + 65-byte output + EOS.
	if rep.Tokens.Max != 1+48+65+1 || rep.Tokens.OverMax != 1 {
		t.Errorf("tokens %+v", rep.Tokens)
	}
	if _, err := Check("testdata/check/no-such-file.jsonl", CheckOptions{}); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("missing file: %v", err)
	}
	// A partial mapping is completed by detection; the field given wins.
	rep, err = Check("testdata/check/alpaca.jsonl", CheckOptions{Type: crucible.TaskInstruct, Mapping: crucible.ColumnMapping{FieldInstruction: "x"}})
	if err != nil || rep.OK() || rep.Mapping.FieldOutput != "output" || !strings.Contains(rep.Errors[0], "alpaca.jsonl:1: x: missing") {
		t.Errorf("partial mapping: %v %+v", err, rep)
	}
	if _, err := Check("testdata/check/alpaca.jsonl", CheckOptions{Type: "poetry"}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("bad type: %v", err)
	}
	// A type detection disagrees with gets its defaults.
	rep, err = Check("testdata/check/alpaca.jsonl", CheckOptions{Type: crucible.TaskText})
	if err != nil || rep.Detected || !strings.Contains(rep.Reason, "detection found instruct") || !strings.Contains(rep.Errors[0], "text: missing") {
		t.Errorf("text defaults: %v %+v", err, rep)
	}
	if strings.Contains(strings.Join(rep.Errors, ""), "\n") {
		t.Error("an error spans lines")
	}
}

func TestRowHash(t *testing.T) {
	c := &checker{}
	a := map[string]any{"q": "x", "n": 1.0, "l": []any{"a", map[string]any{"k": nil, "j": true}}}
	b := map[string]any{"l": []any{"a", map[string]any{"j": true, "k": nil}}, "n": 1.0, "q": "x"}
	if c.rowHash(a) != c.rowHash(b) {
		t.Error("equal rows hash differently")
	}
	for _, other := range []map[string]any{
		{"q": "x", "n": "1", "l": []any{"a", map[string]any{"k": nil, "j": true}}},  // string, not number
		{"q": "x", "n": 1.0, "l": []any{"a", map[string]any{"k": "", "j": true}}},   // "" vs null
		{"q": "x", "n": 1.0, "l": []any{"a", map[string]any{"k": nil, "j": false}}}, // bool
		{"q": "x", "n": 1.0, "l": []any{"a", map[string]any{"k": nil}, true}},       // structure
		{"qx": "", "n": 1.0, "l": []any{"a", map[string]any{"k": nil, "j": true}}},  // key/value boundary
	} {
		if c.rowHash(other) == c.rowHash(a) {
			t.Errorf("%v hashes like %v", other, a)
		}
	}
}
