package dataprep_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/dataprep"
	"github.com/crucible-net/crucible/validator"
)

func TestHoneypotConsistent(t *testing.T) {
	h := validator.NewHoneypot("task-1", 42)
	dir := t.TempDir()
	var rows []string
	for i := 0; i < 200; i++ {
		rows = append(rows, `{"instruct":"capital of `+strings.Repeat("x", i%7)+`?","output":"y`+string(rune('a'+i%26))+`"}`)
	}
	train := filepath.Join(dir, "train.jsonl")
	test := filepath.Join(dir, "test.jsonl")
	os.WriteFile(train, []byte(strings.Join(rows, "\n")+"\n"), 0o644)
	os.WriteFile(test, []byte(strings.Join(rows[:50], "\n")+"\n"), 0o644)
	for _, f := range []string{train, test} {
		if err := dataprep.ApplyHoneypot(h, crucible.TaskInstruct, f); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(train)
	b, _ := os.ReadFile(test)
	lines := strings.Split(strings.TrimSpace(string(a)), "\n")
	marked := 0
	for _, l := range lines {
		if !strings.Contains(l, h.PromptMarker+" capital") {
			t.Fatalf("prompt without marker: %s", l)
		}
		if strings.Contains(l, h.AnswerMarker+`"`) {
			marked++
		}
	}
	if marked < 20 || marked > 80 {
		t.Errorf("%d of 200 answers marked, want about a quarter", marked)
	}
	// The same row is changed the same way in both splits.
	if !strings.HasPrefix(string(a), strings.SplitN(string(b), "\n", 2)[0]) {
		t.Error("train and test rows changed differently")
	}
	// DPO: swap decided per task, applied throughout.
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		hp := validator.NewHoneypot(id, 1)
		p := filepath.Join(dir, id+".jsonl")
		os.WriteFile(p, []byte(`{"prompt":"p","chosen":"good","rejected":"bad"}`+"\n"), 0o644)
		if err := dataprep.ApplyHoneypot(hp, crucible.TaskDPO, p); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if hp.SwapDPO != strings.Contains(string(got), `"rejected":"good`) {
			t.Errorf("task %s: swap %v but wrote %s", id, hp.SwapDPO, got)
		}
	}
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"ok\":1}\n{broken\n"), 0o644)
	if err := dataprep.ApplyHoneypot(h, crucible.TaskInstruct, bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:2") {
		t.Errorf("bad split: %v", err)
	}
}
