package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/node"
)

// adapterOver writes a LoRA adapter over the shipped model that names base
// as its base.
func adapterOver(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	if err := node.ExtractAssets(filepath.Join(dir, "assets")); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(filepath.Join(dir, "assets", "models", "crucible-tiny"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, TargetModules: model.DefaultLoRATargets(m.Config()), BaseModel: base})
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Params() {
		l.Params()[i] = float32(i%7-3) * 1e-3 // not the zero B of a fresh adapter: a fine-tune
	}
	out := filepath.Join(dir, "winner")
	if err := m.SaveAdapter(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGenerateOnAdapterDirectory checks that generate and eval given a LoRA
// adapter as --model apply it to the base its config names, and say how to
// go on when that base is not on the machine.
func TestGenerateOnAdapterDirectory(t *testing.T) {
	dir := adapterOver(t, "crucible-tiny")
	out, err := runCLI(t, "generate", "--model", dir, "--prompt", "The sky is", "--raw", "--max-tokens", "3")
	if err != nil || !strings.Contains(out, "is a LoRA adapter: applying it to its base crucible-tiny") {
		t.Errorf("generate on an adapter: %v\n%s", err, out)
	}
	data := filepath.Join(t.TempDir(), "d.jsonl")
	os.WriteFile(data, []byte(`{"instruction":"Capital of Peru?","output":"Lima"}`+"\n"+`{"instruction":"Capital of Chile?","output":"Santiago"}`+"\n"), 0o644)
	if out, err := runCLI(t, "eval", "--model", dir, "--data", data); err != nil || !strings.Contains(out, "applying it to its base") {
		t.Errorf("eval on an adapter: %v\n%s", err, out)
	}

	lost := adapterOver(t, "someone/not-here")
	_, err = runCLI(t, "generate", "--model", lost, "--prompt", "Hi")
	if crucible.ErrorCode(err) != crucible.ENOTFOUND || !strings.Contains(err.Error(), "LoRA adapter over someone/not-here") ||
		!strings.Contains(crucible.ErrorHint(err), "--merged") {
		t.Errorf("adapter over a missing base: %v (hint %q)", err, crucible.ErrorHint(err))
	}
}
