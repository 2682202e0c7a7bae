package torch_test

import (
	"bufio"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/trainers/torch/torchtest"
	"github.com/crucible-net/crucible/tuning"
)

// Agreement: the PyTorch evaluator's loss equals crucible's Go engine's
// within 1e-5 relative (float32, CPU), on the same token file, for the
// shipped model and a random-init Llama of about 30M parameters; a
// submission gets the same verdict, loss and fingerprint on both.

const agreeTol = 1e-5

const shipped = "../../assets/models/crucible-tiny"

// rows copies the first n rows of a shipped dataset into dir.
func rows(t *testing.T, dir, name string, n int) string {
	t.Helper()
	in, err := os.Open(filepath.Join("../../assets/datasets", name))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out := filepath.Join(dir, name)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for i := 0; i < n && sc.Scan(); i++ {
		f.Write(append(sc.Bytes(), '\n'))
	}
	f.Close()
	return out
}

// tokens writes a dataset's token file for a model, as a validator does.
func tokens(t *testing.T, modelDir, data string) string {
	t.Helper()
	out := data + ".tokens.safetensors"
	if _, _, err := tuning.Tokenize(context.Background(), tuning.TokenizeSpec{ModelDir: modelDir, DataPath: data, OutPath: out,
		MaxLength: tuning.EvalMaxLength}); err != nil {
		t.Fatal(err)
	}
	return out
}

// both evaluates a submission (or the base, sub "") with the Go engine and
// with PyTorch on the same token file and checks that they agree.
func both(t *testing.T, rt *torch.Runtime, base, sub, tok string) (*tuning.EvalResult, *torch.EvalResult) {
	t.Helper()
	ctx := context.Background()
	g, err := tuning.Evaluate(ctx, tuning.EvalSpec{BaseDir: base, ModelDir: sub, TestPath: tok, TokensPath: tok})
	if err != nil {
		t.Fatal(err)
	}
	// One thread: go test runs packages side by side on CI's two cores, and
	// idle PyTorch threads spinning against them only cost time.
	p, err := rt.Evaluate(ctx, torch.EvalSpec{BaseDir: base, ModelDir: sub, TokensPath: tok, Device: "cpu", Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	rel := math.Abs(g.Loss-p.Loss) / math.Abs(g.Loss)
	t.Logf("%s: engine %.10f, torch %.10f, relative difference %.2e (%d tokens, %s)", filepath.Base(tok), g.Loss, p.Loss, rel, g.Tokens, p.Evaluator)
	if g.Failure != "" || p.Failure != "" {
		t.Fatalf("failures: engine %q, torch %q", g.Failure, p.Failure)
	}
	if rel > agreeTol || g.Tokens != p.Tokens || g.Samples != p.Samples || g.IsAdapter != p.IsAdapter {
		t.Errorf("engine %+v\ntorch %+v", g, p)
	}
	if sub != "" {
		if c := cosine(g.Fingerprint, p.Fingerprint); c < 0.9999 {
			t.Errorf("fingerprints differ: cosine %.6f", c)
		}
	}
	if p.Evaluator.Kind != torch.Kind || p.Evaluator.Device != "cpu" {
		t.Errorf("identity %+v", p.Evaluator)
	}
	return g, p
}

func cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

// perturbed saves base's weights plus small noise: a stand-in fine-tune.
func perturbed(t *testing.T, base, out string, seed uint64) string {
	t.Helper()
	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for i, p := range m.Params() {
		m.Params()[i] = p + float32(0.01*r.NormFloat64())
	}
	if err := m.Save(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAgreementShippedModel(t *testing.T) {
	rt := torchtest.Runtime(t)
	dir := t.TempDir()
	tok := tokens(t, shipped, rows(t, dir, "facts.jsonl", 80))
	both(t, rt, shipped, "", tok)
	sub := perturbed(t, shipped, filepath.Join(dir, "tuned"), 3)
	both(t, rt, shipped, sub, tok)
	// Preference pairs: the DPO loss of the fine-tune against the base.
	pairs := tokens(t, shipped, rows(t, dir, "facts_dpo.jsonl", 30))
	g, p := both(t, rt, shipped, sub, pairs)
	// The margin is a difference of sums of log-probabilities (each about
	// the loss times the sequence's tokens, times beta): float32 rounding of
	// those sums, not of the margin, bounds the difference, so a margin
	// near 0 is compared within 1e-6 absolute (measured: 7e-8).
	if g.Samples != 30 || math.Abs(g.RewardAccuracy-p.RewardAccuracy) > 1e-12 || math.Abs(g.Margin-p.Margin) > 1e-5*math.Abs(g.Margin)+1e-6 {
		t.Errorf("dpo: engine accuracy %g margin %g, torch %g %g", g.RewardAccuracy, g.Margin, p.RewardAccuracy, p.Margin)
	}
}

// A random-init model with the shape of a ~30M-parameter Llama
// (configs/llama-30m.json) and the shipped tokenizer.
func TestAgreementRandomLlama30M(t *testing.T) {
	rt := torchtest.Runtime(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "llama-30m")
	cfg, err := model.ReadConfig("configs/llama-30m.json")
	if err == nil {
		t.Fatal("configs/llama-30m.json is a file, ReadConfig wants a directory: test setup changed")
	}
	b, err := os.ReadFile("configs/llama-30m.json")
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err = model.ParseConfig(b); err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.NumParams(); n < 25e6 || n > 40e6 {
		t.Fatalf("%d parameters: not a 30M shape", n)
	}
	if err := m.Save(base); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(shipped, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(base, f), b, 0o644)
	}
	tok := tokens(t, base, rows(t, dir, "facts.jsonl", 40))
	both(t, rt, base, "", tok)
}
