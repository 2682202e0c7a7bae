package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestPrepareInstruct(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 3000 {
		q := fmt.Sprintf("Question %d?", i%2500) // 500 prompts appear twice
		out := fmt.Sprintf("Answer %d.", i)
		if i%100 == 7 {
			out = "" // nothing to learn from: dropped
		}
		fmt.Fprintf(&b, `{"q":%q,"ctx":"c%d","a":%q,"sys":"S"}`+"\n", q, i%3, out)
	}
	path := writeFile(t, dir, "d.jsonl", b.String())
	opt := PrepareOptions{Type: crucible.TaskInstruct, Split: SplitOptions{Seed: 42},
		Mapping: crucible.ColumnMapping{FieldInstruction: "q", FieldInput: "ctx", FieldOutput: "a", FieldSystem: "sys", Format: "Q: {instruction} [{input}] A: "}}
	var train, test bytes.Buffer
	p, err := Prepare(path, opt, &train, &test)
	if err != nil {
		t.Fatal(err)
	}
	if p.Empty != 30 || p.TrainRows+p.TestRows != 2970 || p.TestRows != 297 {
		t.Errorf("prepared %+v", p)
	}
	// Same input and seed: the same bytes.
	var train2, test2 bytes.Buffer
	if _, err := Prepare(path, opt, &train2, &test2); err != nil || train2.String() != train.String() || test2.String() != test.String() {
		t.Errorf("not deterministic (%v)", err)
	}
	// Read the splits back with the standard mapping: the prompts are
	// formatted as the original mapping would, and none is on both sides.
	trainPath := writeFile(t, dir, "train.jsonl", train.String())
	testPath := writeFile(t, dir, "test.jsonl", test.String())
	trainEx, err := Examples(trainPath, p.Type, p.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	testEx, err := Examples(testPath, p.Type, p.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	if len(trainEx) != p.TrainRows || len(testEx) != p.TestRows {
		t.Fatalf("read back %d/%d rows", len(trainEx), len(testEx))
	}
	if got := trainEx[0].Prompt; !strings.HasPrefix(got, "SQ: Question ") || !strings.Contains(got, "[c") {
		t.Errorf("prompt read back %q", got)
	}
	inTrain := map[string]bool{}
	for _, ex := range trainEx {
		inTrain[ex.PromptKey()] = true
	}
	for _, ex := range testEx {
		if inTrain[ex.PromptKey()] {
			t.Fatalf("prompt %q in both splits", ex.PromptKey())
		}
	}
	if !strings.Contains(train.String(), `"instruct":`) || strings.Contains(train.String(), `"q":`) {
		t.Errorf("columns not renamed: %.100s", train.String())
	}
	set, err := TokenizeFile(testPath, p.Type, p.Mapping, byteTokenizer{addBOS: true}, TokenizeOptions{MaxLength: 64})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Sequences) != p.TestRows || set.Stats.Examples != p.TestRows || set.Stats.Counted == 0 {
		t.Errorf("tokenized test split: %d sequences, %+v", len(set.Sequences), set.Stats)
	}
	// Only the answer counts: "Answer N." plus EOS.
	if got := counted(byteTokenizer{}, set.Sequences[0]); !strings.HasPrefix(got, "Answer ") || !strings.HasSuffix(got, ".<eos>") {
		t.Errorf("counted %q", got)
	}
}

func TestPrepareChatDetectedAndErrors(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"conversations":[{"from":"human","value":"hi %d"},{"from":"gpt","value":"hello %d"}]}`+"\n", i, i)
	}
	path := writeFile(t, dir, "chat.jsonl", b.String())
	var train, test bytes.Buffer
	p, err := Prepare(path, PrepareOptions{Split: SplitOptions{MinRows: 10}}, &train, &test)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != crucible.TaskChat || p.TestRows != 5 || p.Reason == "" {
		t.Errorf("prepared %+v", p)
	}
	testPath := writeFile(t, dir, "test.jsonl", test.String())
	ex, err := Examples(testPath, p.Type, p.Mapping)
	if err != nil || len(ex) != 5 || ex[0].Messages[1].Role != RoleAssistant {
		t.Errorf("chat read back: %v %+v", err, ex)
	}

	bad := writeFile(t, dir, "bad.jsonl", b.String()+"{\"conversations\": 3}\n")
	_, err = Prepare(bad, PrepareOptions{Split: SplitOptions{MinRows: 10}}, &train, &test)
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "bad.jsonl:51: conversations: expected a list of messages, found a number") {
		t.Errorf("bad row: %v", err)
	}
	if _, err := Prepare(bad, PrepareOptions{Split: SplitOptions{MinRows: 10}, MaxBadRows: 1}, &train, &test); err != nil {
		t.Errorf("tolerated bad row: %v", err)
	}

	var empties strings.Builder
	for i := range 20 {
		fmt.Fprintf(&empties, `{"question":"q%d","answer":"%s"}`+"\n", i, map[bool]string{true: "a"}[i < 2])
	}
	_, err = Prepare(writeFile(t, dir, "empty.jsonl", empties.String()), PrepareOptions{Split: SplitOptions{MinRows: 1}}, &train, &test)
	if err == nil || !strings.Contains(err.Error(), "18 of 20 rows have nothing to learn from") {
		t.Errorf("mostly empty: %v", err)
	}

	schema := filepath.Join(dir, "s.parquet")
	writeParquet(t, schema, []pqQA{{"q", "a"}})
	_, err = Prepare(schema, PrepareOptions{Type: crucible.TaskText}, &train, &test)
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "text: no such column") {
		t.Errorf("schema: %v", err)
	}
	os.Remove(schema)
}
