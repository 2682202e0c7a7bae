package main

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/trainers/torch/torchtest"
)

// A LoRA adapter trained by crucible_torch (PEFT layout) loads in crucible
// (eval --adapter) and one trained by crucible loads in crucible_torch; the
// two evaluators agree on each within 1e-5 relative.
func TestLoRAInteropWithTorch(t *testing.T) {
	rt := torchtest.Runtime(t)
	dir := t.TempDir()
	base := "../../assets/models/crucible-tiny"
	data := filepath.Join(dir, "facts.jsonl")
	in, err := os.Open("../../assets/datasets/facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.Create(data)
	sc := bufio.NewScanner(in)
	for i := 0; i < 120 && sc.Scan(); i++ {
		out.Write(append(sc.Bytes(), '\n'))
	}
	in.Close()
	out.Close()
	tok := filepath.Join(dir, "facts.tokens.safetensors")
	if o, err := runCLI(t, "data", "tokenize", "--model", base, "--data", data, "--out", tok, "--max-length", "4096"); err != nil {
		t.Fatalf("tokenize: %v\n%s", err, o)
	}

	// crucible_torch → crucible.
	adapter := filepath.Join(dir, "torch-lora")
	argv := rt.TrainArgv(0, "--model", base, "--tokens", tok, "--out", adapter, "--mode", "lora", "--max-steps", "6",
		"--time", "5m", "--lr", "2e-3", "--threads", "2")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = rt.Env()
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("crucible_torch train: %v\n%s", err, torch.Tail(string(o), 20, 4000))
	}
	agree(t, rt, base, adapter, tok)

	// crucible → crucible_torch.
	goAdapter := filepath.Join(dir, "crucible-lora")
	if o, err := runCLI(t, "train", "--model", base, "--data", data, "--out", goAdapter, "--lora", "--max-steps", "3",
		"--lr", "2e-3", "--time", "5m"); err != nil {
		t.Fatalf("crucible train: %v\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(goAdapter, "adapter_model.safetensors")); err != nil {
		t.Fatal(err)
	}
	agree(t, rt, base, goAdapter, tok)
}

// agree evaluates an adapter with crucible eval --adapter and with
// crucible_torch on the same token file.
func agree(t *testing.T, rt *torch.Runtime, base, adapter, tok string) {
	t.Helper()
	o, err := runCLI(t, "eval", "--model", base, "--adapter", adapter, "--tokens", tok, "--json")
	if err != nil {
		t.Fatalf("crucible eval --adapter %s: %v\n%s", adapter, err, o)
	}
	var g struct {
		Loss      float64 `json:"loss"`
		Tokens    int     `json:"tokens"`
		IsAdapter bool    `json:"is_adapter"`
		Failure   string  `json:"failure"`
	}
	if err := json.Unmarshal([]byte(o[strings.Index(o, "{"):]), &g); err != nil {
		t.Fatalf("eval output: %v\n%s", err, o)
	}
	p, err := rt.Evaluate(t.Context(), torch.EvalSpec{BaseDir: base, ModelDir: adapter, TokensPath: tok, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	rel := math.Abs(g.Loss-p.Loss) / g.Loss
	t.Logf("%s: crucible %.10f, crucible_torch %.10f, relative difference %.2e", filepath.Base(adapter), g.Loss, p.Loss, rel)
	if g.Failure != "" || p.Failure != "" || !g.IsAdapter || !p.IsAdapter || g.Tokens != p.Tokens || rel > 1e-5 {
		t.Errorf("crucible %+v\ncrucible_torch %+v", g, p)
	}
}
