package data

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

const grpoRows = `{"question": "Tom has 3 apples and buys 4 more. How many?", "answer": 7, "unit": "apples"}
{"question": "Ann has 10 pens and gives away 6. How many are left?", "answer": 4, "unit": "pens"}
`

func TestDetectGRPO(t *testing.T) {
	// A prompt column with no answer column is read as grpo.
	p := writeFile(t, t.TempDir(), "prompts.jsonl", `{"prompt": "Write a haiku about rain.", "topic": "rain"}`+"\n")
	d, err := DetectFile(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Type != crucible.TaskGRPO || d.Mapping.FieldPrompt != "prompt" || d.Mapping.ExtraColumns != "topic" {
		t.Fatalf("detected %s %+v", d.Type, d.Mapping)
	}
	if !strings.Contains(d.Reason, "extra columns topic passed to the rewards") {
		t.Errorf("reason %q", d.Reason)
	}
	// Text questions and answers read as instruct unless grpo is asked
	// for; numeric answers are no instruct output, so they read as grpo.
	p = writeFile(t, t.TempDir(), "qa.jsonl", strings.ReplaceAll(strings.ReplaceAll(grpoRows, `: 7,`, `: "7",`), `: 4,`, `: "4",`))
	typ, m, reason, err := Settle(p, "", crucible.ColumnMapping{})
	if err != nil || typ != crucible.TaskInstruct {
		t.Fatalf("Settle without a type: %s %v", typ, err)
	}
	p = writeFile(t, t.TempDir(), "qa.jsonl", grpoRows)
	if typ, _, _, err := Settle(p, "", crucible.ColumnMapping{}); err != nil || typ != crucible.TaskGRPO {
		t.Fatalf("Settle numeric answers without a type: %s %v", typ, err)
	}
	typ, m, reason, err = Settle(p, crucible.TaskGRPO, crucible.ColumnMapping{})
	if err != nil {
		t.Fatal(err)
	}
	if typ != crucible.TaskGRPO || m.FieldPrompt != "question" || m.ExtraColumns != "answer,unit" {
		t.Fatalf("Settle grpo: %s %+v (%s)", typ, m, reason)
	}
	// The mapping given wins over detection.
	_, m, _, err = Settle(p, crucible.TaskGRPO, crucible.ColumnMapping{ExtraColumns: "answer"})
	if err != nil || m.FieldPrompt != "question" || m.ExtraColumns != "answer" {
		t.Fatalf("Settle grpo with extra columns: %+v %v", m, err)
	}
	// No prompt column: a clear error with the flag to use.
	p = writeFile(t, t.TempDir(), "none.jsonl", `{"q": "x", "a": "y"}`+"\n")
	_, _, _, err = Settle(p, crucible.TaskGRPO, crucible.ColumnMapping{})
	if err == nil || !strings.Contains(err.Error(), "--field-prompt") {
		t.Fatalf("Settle without a prompt column: %v", err)
	}
}

func TestGRPOExamples(t *testing.T) {
	p := writeFile(t, t.TempDir(), "qa.jsonl", grpoRows+`{"question": "Sam has 2 cats.", "unit": "cats"}`+"\n")
	m := crucible.ColumnMapping{FieldPrompt: "question", ExtraColumns: "answer", PromptFormat: "Q: {prompt}\nA:"}
	f, err := NewFormatter(crucible.TaskGRPO, m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	row, _ := r.Next()
	ex, err := f.Example(row)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Prompt != "Q: Tom has 3 apples and buys 4 more. How many?\nA:" || len(ex.Extra) != 1 || ex.Extra["answer"] != 7.0 {
		t.Fatalf("example %+v", ex)
	}
	r.Next()
	row, _ = r.Next()
	_, err = f.Example(row)
	var de *Error
	if !errors.As(err, &de) || de.Pos.Line != 3 || de.Field != "answer" || !strings.Contains(de.Problem, "missing extra column") {
		t.Fatalf("missing extra column: %v", err)
	}
	// Without extra_columns every other column is extra.
	f, _ = NewFormatter(crucible.TaskGRPO, crucible.ColumnMapping{FieldPrompt: "question"})
	ex, err = f.Example(Row{Pos: Pos{Row: 0}, Values: map[string]any{"question": "q", "answer": 1.0, "unit": "u"}})
	if err != nil || len(ex.Extra) != 2 || ex.Prompt != "q" {
		t.Fatalf("all extras: %+v %v", ex, err)
	}
	// Prompts that are conversations are refused with the row.
	_, err = f.Example(Row{Pos: Pos{File: "x.jsonl", Line: 4}, Values: map[string]any{"question": []any{map[string]any{"role": "user", "content": "hi"}}}})
	if err == nil || !strings.Contains(err.Error(), "x.jsonl:4: question: a conversation") {
		t.Fatalf("conversation prompt: %v", err)
	}
	ids := TokenizePrompt(byteTokenizer{addBOS: true}, Example{Type: crucible.TaskGRPO, Prompt: "ab"})
	if fmt.Sprint(ids) != "[1 100 101]" {
		t.Errorf("TokenizePrompt = %v", ids)
	}
	ps, _, err := TokenizePrompts(byteTokenizer{addBOS: true}, []Example{{Pos: Pos{File: "x", Line: 9}, Type: crucible.TaskGRPO, Prompt: "abcdef"}}, 4)
	if err == nil || !strings.Contains(err.Error(), "x:9: the prompt has 7 tokens; at most 4 fit") || ps != nil {
		t.Fatalf("TokenizePrompts too long: %v", err)
	}
}

func TestCheckGRPO(t *testing.T) {
	p := writeFile(t, t.TempDir(), "qa.jsonl", grpoRows+`{"question": "`+strings.Repeat("long ", 20)+`", "answer": "", "unit": "x"}`+"\n")
	opt := CheckOptions{Type: crucible.TaskGRPO, Tokenizer: byteTokenizer{addBOS: true}, MaxLength: 80,
		CheckExample: func(ex Example) error {
			if ex.Extra["answer"] == "" {
				return errorf(ex.Pos, "answer", "reward numeric_answer needs it")
			}
			return nil
		}}
	rep, err := Check(p, opt)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Type != crucible.TaskGRPO || rep.Rows != 2 || rep.BadRows != 1 || len(rep.Errors) != 1 ||
		!strings.Contains(rep.Errors[0], "qa.jsonl:3: question: the prompt has 101 tokens, over the 80") {
		var b bytes.Buffer
		rep.WriteText(&b)
		t.Fatalf("report:\n%s", b.String())
	}
	opt.MaxLength = 0
	rep, _ = Check(p, opt)
	if rep.BadRows != 1 || !strings.Contains(rep.Errors[0], "qa.jsonl:3: answer: reward numeric_answer needs it") {
		t.Fatalf("errors %v", rep.Errors)
	}
}

func TestPrepareGRPO(t *testing.T) {
	var rows strings.Builder
	for i := range 60 {
		fmt.Fprintf(&rows, `{"question": "What is %d + 1?", "answer": %d, "note": "n%d"}`+"\n", i, i+1, i)
	}
	p := writeFile(t, t.TempDir(), "qa.jsonl", rows.String())
	var train, test bytes.Buffer
	prep, err := Prepare(p, PrepareOptions{Type: crucible.TaskGRPO, Split: SplitOptions{MinRows: 2}, Mapping: crucible.ColumnMapping{ExtraColumns: "answer"}}, &train, &test)
	if err != nil {
		t.Fatal(err)
	}
	if prep.Mapping.FieldPrompt != ColPrompt || prep.Mapping.ExtraColumns != "answer" || prep.TrainRows+prep.TestRows != 60 {
		t.Fatalf("prepared %+v", prep)
	}
	out := writeFile(t, t.TempDir(), "train.jsonl", train.String())
	exs, err := Examples(out, crucible.TaskGRPO, prep.Mapping)
	if err != nil || len(exs) != prep.TrainRows {
		t.Fatalf("read back: %d examples, %v", len(exs), err)
	}
	for _, ex := range exs {
		if !strings.HasPrefix(ex.Prompt, "What is ") || len(ex.Extra) != 1 || ex.Extra["answer"] == nil {
			t.Fatalf("read back %+v", ex)
		}
	}
}
