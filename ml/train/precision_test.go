package train

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// factsSeqs tokenizes the first n rows of the shipped facts dataset as
// prompt (unscored) followed by the answer and EOS (scored).
func factsSeqs(t *testing.T, tok *tokenizer.Tokenizer, n int) []Sequence {
	t.Helper()
	f, err := os.Open("../../assets/datasets/facts.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Sequence
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < n {
		var row struct{ Instruction, Output string }
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		var s Sequence
		for _, id := range tok.Encode(row.Instruction + "\n") {
			s.IDs, s.Labels = append(s.IDs, int32(id)), append(s.Labels, model.IgnoreIndex)
		}
		for _, id := range append(tok.EncodeOrdinary(row.Output), tok.EOSID()) {
			s.IDs, s.Labels = append(s.IDs, int32(id)), append(s.Labels, int32(id))
		}
		out = append(out, s)
	}
	return out
}

// TestBF16QualityShippedModel fine-tunes the shipped model on the facts
// dataset for 300 steps in fp32 and in bf16 (AMX, AVX512_BF16 or the Go
// emulation, whichever this CPU has) and checks that the bf16 weights score
// within 1% of the fp32 ones on held-out facts, evaluated in fp32. `crucible
// bench precision` runs the same check at full batch size and on llama-30m.
func TestBF16QualityShippedModel(t *testing.T) {
	const dir = "../../assets/models/crucible-tiny"
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	seqs := factsSeqs(t, tok, 700)
	steps, batch := 300, 2
	if raceEnabled {
		steps = 120 // the race detector slows the optimizer's Go loops tenfold
	}
	start := time.Now()
	chk, err := ComparePrecisions(context.Background(), func() (*model.Model, error) {
		m, err := model.Load(dir)
		if err == nil {
			m.SetTrainBase(true)
		}
		return m, err
	}, Data{Train: seqs[:600], Val: seqs[600:]}, Config{LR: 3e-4, MaxSteps: steps, Epochs: 10, BatchSize: batch, Patience: -1, EvalEvery: steps, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d steps in %s: validation loss %.4f at start, fp32 %.4f, bf16 %.4f (%.2f%% apart)", steps, time.Since(start).Round(time.Millisecond),
		chk.InitialLoss, chk.FP32Loss, chk.BF16Loss, 100*chk.RelDiff)
	if chk.FP32.Steps != steps || chk.BF16.Steps != steps {
		t.Fatalf("runs took %d and %d steps, want %d", chk.FP32.Steps, chk.BF16.Steps, steps)
	}
	if !(chk.FP32Loss < 0.8*chk.InitialLoss) {
		t.Fatalf("fp32 fine-tuning did not learn: %.4f → %.4f", chk.InitialLoss, chk.FP32Loss)
	}
	if chk.RelDiff > 0.01 {
		t.Errorf("bf16 validation loss %.4f is %.2f%% from fp32's %.4f (want ≤ 1%%)", chk.BF16Loss, 100*chk.RelDiff, chk.FP32Loss)
	}
}
