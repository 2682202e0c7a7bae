package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The grpo flags refuse bad rewards before any work, naming the reward,
// its line and the row.
func TestGRPOCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "q.jsonl")
	os.WriteFile(data, []byte(`{"prompt": "Question: 2 + 2?\nAnswer:", "answer": 4}
{"prompt": "Question: 3 + 1?\nAnswer:", "answer": ""}
`), 0o644)
	bad := filepath.Join(dir, "bad.star")
	os.WriteFile(bad, []byte("def reward(prompt, completion, extra):\n    return int(extra['answer']) / len(completion)\n"), 0o644)
	syntax := filepath.Join(dir, "syntax.star")
	os.WriteFile(syntax, []byte("def reward(prompt, completion, extra)\n    return 1\n"), 0o644)

	out, err := runCLI(t, "data", "check", data, "--reward-file", bad)
	// A Starlark reward is reported once, at its first failure: that is
	// what to fix (and a runaway one is not run on every row).
	if err == nil || !strings.Contains(out, "q.jsonl:1: reward bad (line 2): floating-point division by zero (on the empty completion)") ||
		strings.Contains(out, "q.jsonl:2: reward bad") || !strings.Contains(out, "format      grpo (detected)") {
		t.Errorf("data check with a failing reward: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"data", "check", data, "--reward-file", syntax}, "reward syntax (line 1): syntax error"},
		{[]string{"data", "check", data, "--reward", "numeric_answer:tolerance=high"}, `argument tolerance: "high" is not a number`},
		{[]string{"data", "check", data, "--reward", "numeric_answer", "--type", "instruct"}, "for grpo datasets, not --type instruct"},
		{[]string{"train", "--model", "m", "--data", data, "--out", filepath.Join(dir, "o"), "--reward", "nope"}, "no built-in reward of this name"},
		{[]string{"train", "--model", "m", "--data", data, "--out", filepath.Join(dir, "o"), "--reward", "numeric_answer", "--generations", "1"}, "--generations 1"},
		{[]string{"eval", "--model", "m", "--data", data, "--reward", "numeric_answer", "--type", "dpo"}, "for grpo, not dpo"},
		{[]string{"generate", "--model", "m", "--prompt", "x", "--samples", "0"}, "--samples 0: must be from 1 to 256"},
	} {
		if _, err := runCLI(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("crucible %s: %v, want %q", strings.Join(c.args, " "), err, c.want)
		}
	}
	out, err = runCLI(t, "data", "check", data, "--reward", "numeric_answer")
	if err == nil || !strings.Contains(out, `q.jsonl:2: reward numeric_answer: extra column "answer" is empty in this row`) {
		t.Errorf("data check with an empty answer: %v\n%s", err, out)
	}
}
