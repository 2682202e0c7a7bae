package tuning

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// inMemoryLoss is the evaluator's metric computed the way it was before
// token stores: every example read and tokenized in memory.
func inMemoryLoss(t *testing.T, base, path string, typ crucible.TaskType) float64 {
	t.Helper()
	tok, err := tokenizer.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	typ, mapping, _, err := data.Settle(path, typ, crucible.ColumnMapping{})
	if err != nil {
		t.Fatal(err)
	}
	exs, err := data.Examples(path, typ, mapping)
	if err != nil {
		t.Fatal(err)
	}
	opt := data.TokenizeOptions{MaxLength: maxLength(m.Config(), 4096)}
	if typ == crucible.TaskDPO {
		pairs, _, err := data.TokenizePairs(tok, exs, opt)
		if err != nil {
			t.Fatal(err)
		}
		var ps []eval.Pair
		for _, p := range pairs {
			ps = append(ps, eval.Pair{Chosen: eval.Sequence{IDs: p.Chosen.IDs, Labels: p.Chosen.Labels}, Rejected: eval.Sequence{IDs: p.Rejected.IDs, Labels: p.Rejected.Labels}})
		}
		// The policy is the base: the DPO loss is ln 2 whatever the data;
		// compare the base's log-probabilities instead.
		lp, err := eval.PairLogProbs(context.Background(), m, ps, eval.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i := range lp.Chosen {
			s += lp.Chosen[i] - lp.Rejected[i]
		}
		return s
	}
	seqs, _, err := data.TokenizeAll(tok, exs, opt)
	if err != nil {
		t.Fatal(err)
	}
	var es []eval.Sequence
	for _, s := range seqs {
		if len(s.IDs) >= 2 {
			es = append(es, eval.Sequence{IDs: s.IDs, Labels: s.Labels})
		}
	}
	r, err := eval.Loss(context.Background(), m, es, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Loss
}

// The evaluator's loss on a raw split equals its loss on the split's token
// file, and both equal the in-memory computation, bit for bit.
func TestEvaluateTokenFileEqualsRawSplit(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	testPath := writeJSONL(t, dir, "test.jsonl", instructRows(90, 21))
	want := inMemoryLoss(t, base, testPath, crucible.TaskInstruct)

	raw, err := Evaluate(context.Background(), EvalSpec{BaseDir: base, TestPath: testPath})
	if err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, "test.tokens.safetensors")
	src, meta, err := Tokenize(context.Background(), TokenizeSpec{ModelDir: base, DataPath: testPath, OutPath: tokPath, MaxLength: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if src.Rows != 90 || meta.IDType != "U16" {
		t.Fatalf("source %+v, meta %+v", src, meta)
	}
	fromTokens, err := Evaluate(context.Background(), EvalSpec{BaseDir: base, TestPath: testPath, TokensPath: tokPath})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(raw.Loss) != math.Float64bits(want) || math.Float64bits(fromTokens.Loss) != math.Float64bits(want) || raw.Tokens != fromTokens.Tokens {
		t.Fatalf("raw split %v (%d tokens), token file %v (%d tokens), in memory %v", raw.Loss, raw.Tokens, fromTokens.Loss, fromTokens.Tokens, want)
	}

	// A token file of another tokenizer is refused.
	other := filepath.Join(dir, "other-model")
	os.MkdirAll(other, 0o755)
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer_config.json"} {
		b, _ := os.ReadFile(filepath.Join(base, f))
		os.WriteFile(filepath.Join(other, f), b, 0o644)
	}
	tj, _ := os.ReadFile(filepath.Join(base, "tokenizer.json"))
	os.WriteFile(filepath.Join(other, "tokenizer.json"), append(tj, ' '), 0o644)
	_, err = Evaluate(context.Background(), EvalSpec{BaseDir: other, TestPath: testPath, TokensPath: tokPath})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "another tokenizer") {
		t.Fatalf("token file of another tokenizer: %v", err)
	}
}

// The same for preference pairs: the base's log-probabilities from the
// token file equal the in-memory ones.
func TestDPOTokenFileEqualsRawSplit(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	testPath := writeJSONL(t, dir, "prefs.jsonl", dpoRows(40, 5))
	want := inMemoryLoss(t, base, testPath, crucible.TaskDPO)
	tokPath := filepath.Join(dir, "prefs.tokens.safetensors")
	if _, _, err := Tokenize(context.Background(), TokenizeSpec{ModelDir: base, DataPath: testPath, OutPath: tokPath, MaxLength: 4096}); err != nil {
		t.Fatal(err)
	}
	st, src, err := data.OpenTokens(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := model.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := eval.PairLogProbsOf(context.Background(), m, st, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got float64
	for i := range lp.Chosen {
		got += lp.Chosen[i] - lp.Rejected[i]
	}
	if src.TaskType != crucible.TaskDPO || math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("type %s, token file %v, in memory %v", src.TaskType, got, want)
	}
	r, err := Evaluate(context.Background(), EvalSpec{BaseDir: base, TestPath: testPath, TokensPath: tokPath})
	if err != nil || math.Abs(r.Loss-math.Ln2) > 1e-12 || r.Samples != 40 {
		t.Fatalf("the base against itself: %+v, %v", r, err)
	}
}
