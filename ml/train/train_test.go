package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
)

const vocab = 48

func tinyModel(t *testing.T) *model.Model {
	t.Helper()
	cfg := model.NewLlamaConfig(32, 64, 2, 4, 2, vocab, 64)
	m, err := model.New(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyTask makes sequences "BOS x1..xk SEP y1..yk" where y = x+1 (mod
// 40): learnable, with only the answer scored.
func copyTask(n int, seed uint64) []Sequence {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]Sequence, n)
	for i := range out {
		k := 3 + rng.IntN(4)
		ids := []int32{44}
		labels := []int32{-100}
		xs := make([]int32, k)
		for j := range xs {
			xs[j] = int32(rng.IntN(40))
			ids = append(ids, xs[j])
			labels = append(labels, -100)
		}
		ids, labels = append(ids, 45), append(labels, -100)
		for _, x := range xs {
			y := (x + 1) % 40
			ids, labels = append(ids, y), append(labels, y)
		}
		out[i] = Sequence{IDs: ids, Labels: labels}
	}
	return out
}

// prefTask makes pairs whose chosen answers use tokens [0, 20) and whose
// rejected answers use [20, 40): a preference a model can generalize.
func prefTask(n int, seed uint64) []Pair {
	seqs := copyTask(n, seed)
	rng := rand.New(rand.NewPCG(seed, 10))
	out := make([]Pair, n)
	for i, s := range seqs {
		ch := Sequence{IDs: slices.Clone(s.IDs), Labels: slices.Clone(s.Labels)}
		rej := Sequence{IDs: slices.Clone(s.IDs), Labels: slices.Clone(s.Labels)}
		for j, l := range s.Labels {
			if l >= 0 {
				c, r := int32(rng.IntN(20)), int32(20+rng.IntN(20))
				ch.IDs[j], ch.Labels[j] = c, c
				rej.IDs[j], rej.Labels[j] = r, r
			}
		}
		out[i] = Pair{Chosen: ch, Rejected: rej}
	}
	return out
}

func TestSFTLossFallsAndIsDeterministic(t *testing.T) {
	data := Data{Train: copyTask(160, 1)}
	runOnce := func(metrics io.Writer) (*model.Model, *Result) {
		m := tinyModel(t)
		m.SetTrainBase(true)
		res, err := Run(context.Background(), m, data, Config{LR: 3e-3, Epochs: 4, BatchSize: 8, Seed: 7, Metrics: metrics})
		if err != nil {
			t.Fatal(err)
		}
		return m, res
	}
	var metrics bytes.Buffer
	m1, res := runOnce(&metrics)
	if !(res.ValLoss < res.InitialValLoss-0.3) {
		t.Fatalf("validation loss %.4f did not fall enough from %.4f", res.ValLoss, res.InitialValLoss)
	}
	if res.StopReason != StopCompleted && res.StopReason != StopEarly {
		t.Fatalf("stop reason %q", res.StopReason)
	}
	// Every metrics line is JSON with the documented fields.
	sc := bufio.NewScanner(&metrics)
	steps := 0
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("metrics line %q: %v", sc.Text(), err)
		}
		if _, ok := rec["loss"]; ok {
			steps++
			for _, k := range []string{"step", "lr", "grad_norm", "tokens_per_s"} {
				if _, ok := rec[k]; !ok {
					t.Fatalf("metrics line %q lacks %s", sc.Text(), k)
				}
			}
		}
	}
	if steps != res.Steps {
		t.Fatalf("%d metric steps, result says %d", steps, res.Steps)
	}
	m2, _ := runOnce(nil)
	if !slices.Equal(m1.Params(), m2.Params()) {
		t.Fatal("two runs with the same seed differ")
	}
	// The returned weights evaluate to the validation loss reported.
	_, val := splitVal(160, autoValSize(160), 7)
	vs := make([]Sequence, len(val))
	for k, i := range val {
		vs[k] = data.Train[i]
	}
	r, err := eval.Loss(context.Background(), m1, vs, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Loss != res.ValLoss {
		t.Fatalf("re-evaluated loss %v, reported %v", r.Loss, res.ValLoss)
	}
}

func TestLoRAAndAutoLR(t *testing.T) {
	m := tinyModel(t)
	if _, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: LoRATargets(m.Config()), Seed: 3}); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), m, Data{Train: copyTask(120, 2)}, Config{Epochs: 3, BatchSize: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	var lr *Choice
	for i, c := range res.Choices {
		if c.Name == "learning rate" {
			lr = &res.Choices[i]
		}
	}
	if lr == nil || lr.Reason == "" || res.LR <= 0 {
		t.Fatalf("no automatic learning rate recorded: %+v", res.Choices)
	}
	if !(res.ValLoss < res.InitialValLoss) {
		t.Fatalf("LoRA validation loss %.4f did not fall from %.4f (lr %g: %s)", res.ValLoss, res.InitialValLoss, res.LR, lr.Reason)
	}
}

func TestDPOImprovesRewardAccuracy(t *testing.T) {
	m := tinyModel(t)
	m.SetTrainBase(true)
	res, err := Run(context.Background(), m, Data{Pairs: prefTask(120, 3), ValPairs: prefTask(40, 4)}, Config{LR: 2e-3, Epochs: 3, BatchSize: 8, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !(res.RewardAccuracy >= 0.8 && res.RewardAccuracy > res.InitialRewardAccuracy) || !(res.ValLoss < 0.6) {
		t.Fatalf("DPO: reward accuracy %.3f (initially %.3f), loss %.4f", res.RewardAccuracy, res.InitialRewardAccuracy, res.ValLoss)
	}
}

func TestDPOWithLoRA(t *testing.T) {
	m := tinyModel(t)
	if _, err := m.AddLoRA(model.LoRAConfig{Rank: 8, Alpha: 16, TargetModules: LoRATargets(m.Config()), Seed: 2}); err != nil {
		t.Fatal(err)
	}
	base := slices.Clone(m.Params())
	res, err := Run(context.Background(), m, Data{Pairs: prefTask(120, 3), ValPairs: prefTask(40, 4)}, Config{LR: 1e-2, Epochs: 4, BatchSize: 8, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	// At the first step the adapter is zero: policy and reference (the
	// policy with its adapter zeroed) agree to the bit.
	if res.FirstLoss != eval.Softplus(0) {
		t.Fatalf("first DPO loss %v, want exactly ln 2", res.FirstLoss)
	}
	// (A tiny model's logits move little through a LoRA adapter: its
	// normalized final states meet small random embeddings, so the loss
	// falls less far than with full fine-tuning.)
	if !(res.RewardAccuracy >= 0.8) || !(res.ValLoss < res.InitialValLoss-0.03) {
		t.Fatalf("LoRA DPO: reward accuracy %.3f, loss %.4f from %.4f", res.RewardAccuracy, res.ValLoss, res.InitialValLoss)
	}
	if !slices.Equal(m.Params(), base) {
		t.Fatal("LoRA DPO changed the base weights")
	}
}

func TestTimeBudgetIsMet(t *testing.T) {
	m := tinyModel(t)
	m.SetTrainBase(true)
	start := time.Now()
	deadline := start.Add(1500 * time.Millisecond)
	reserve := 300 * time.Millisecond
	res, err := Run(context.Background(), m, Data{Train: copyTask(400, 4)}, Config{LR: 1e-3, Epochs: 1000, Patience: -1, Seed: 1, Deadline: deadline, Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	// The run ends by its deadline less the reserve; a late step may eat a
	// little into the reserve (it exists to absorb that), never past it.
	if end := time.Now(); end.After(deadline.Add(-reserve / 2)) {
		t.Fatalf("run ended %s after its deadline less reserve", end.Sub(deadline.Add(-reserve)))
	}
	if res.StopReason != StopBudget || res.Steps == 0 {
		t.Fatalf("stop %q after %d steps", res.StopReason, res.Steps)
	}
	// A deadline already passed is a clear error.
	_, err = Run(context.Background(), m, Data{Train: copyTask(40, 4)}, Config{LR: 1e-3, Deadline: time.Now().Add(100 * time.Millisecond), Reserve: time.Second})
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("past deadline: %v", err)
	}
}

func TestDivergenceRollsBackToCheckpoint(t *testing.T) {
	dir := t.TempDir()
	m := tinyModel(t)
	m.SetTrainBase(true)
	cfg := Config{LR: 1e-3, Epochs: 3, Seed: 1, ValSize: -1, CheckpointDir: dir, CheckpointEvery: time.Nanosecond, faultStep: 6}
	res, err := Run(context.Background(), m, Data{Train: copyTask(80, 5)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.StopReason != StopDiverged || len(res.Warnings) == 0 || res.Steps != 5 {
		t.Fatalf("stop %q, steps %d, warnings %v", res.StopReason, res.Steps, res.Warnings)
	}
	ck := LatestCheckpoint(dir)
	saved := tinyModel(t)
	saved.SetTrainBase(true)
	if err := LoadCheckpointWeights(ck, saved.TrainableParams()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(saved.Params(), m.Params()) {
		t.Fatal("the model was not rolled back to the checkpoint")
	}
	// Without a checkpoint or validated weights, divergence is an error.
	m2 := tinyModel(t)
	m2.SetTrainBase(true)
	cfg = Config{LR: 1e-3, Epochs: 3, Seed: 1, ValSize: -1, faultStep: 2}
	if _, err := Run(context.Background(), m2, Data{Train: copyTask(80, 5)}, cfg); err == nil {
		t.Fatal("divergence without a checkpoint gave no error")
	}
}

func TestCheckpointWriteFailureKeepsPrevious(t *testing.T) {
	dir := t.TempDir()
	m := tinyModel(t)
	m.SetTrainBase(true)
	params := m.TrainableParams()
	o := newTestOpt(params)
	first, err := writeCheckpoint(dir, params, o, CheckpointState{Step: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(m.Params())
	m.Params()[0] += 1
	checkpointFault = func() error { return errors.New("no space left on device") }
	_, err = writeCheckpoint(dir, params, o, CheckpointState{Step: 2})
	checkpointFault = func() error { return nil }
	if err == nil {
		t.Fatal("a failed checkpoint write reported success")
	}
	if LatestCheckpoint(dir) != first {
		t.Fatalf("latest checkpoint is %q, want %q", LatestCheckpoint(dir), first)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("the failed checkpoint left files behind: %v", ents)
	}
	if err := LoadCheckpointWeights(first, params); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Params(), want) {
		t.Fatal("the earlier checkpoint changed")
	}
	// A run whose checkpoint directory cannot be created fails clearly.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	_, err = Run(context.Background(), m, Data{Train: copyTask(40, 6)}, Config{LR: 1e-3, Epochs: 2, ValSize: -1, CheckpointDir: filepath.Join(file, "ckpt"), CheckpointEvery: time.Nanosecond})
	if err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("unwritable checkpoint directory: %v", err)
	}
}

func TestBadData(t *testing.T) {
	m := tinyModel(t)
	m.SetTrainBase(true)
	noScore := []Sequence{{IDs: []int32{1, 2, 3}, Labels: []int32{-100, -100, -100}}}
	long := []Sequence{{IDs: make([]int32, 100), Labels: make([]int32, 100)}}
	for name, d := range map[string]Data{"no scored tokens": {Train: noScore}, "too long": {Train: long}, "empty": {}} {
		if _, err := Run(context.Background(), m, d, Config{LR: 1e-3}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	frozen := tinyModel(t)
	if _, err := Run(context.Background(), frozen, Data{Train: copyTask(10, 1)}, Config{LR: 1e-3}); err == nil {
		t.Error("a model with nothing to train gave no error")
	}
}

func TestChooseSetup(t *testing.T) {
	small := model.NewLlamaConfig(256, 768, 4, 4, 2, 8192, 256)
	big := model.NewLlamaConfig(2048, 8192, 24, 16, 8, 32000, 2048)
	cases := []struct {
		name   string
		f      SetupFacts
		lora   bool
		minBat int
	}{
		{"small model full", SetupFacts{Model: small, Params: 8_000_000, Examples: 2000, MaxLen: 256, Memory: 8 << 30}, false, 4},
		{"big model lora", SetupFacts{Model: big, Params: 1_200_000_000, Examples: 2000, MaxLen: 512, Memory: 64 << 30}, true, 1},
		{"memory-bound lora", SetupFacts{Model: small, Params: 8_000_000, Examples: 2000, MaxLen: 256, Memory: 200 << 20}, true, 1},
		{"tiny data", SetupFacts{Model: small, Params: 8_000_000, Examples: 30, MaxLen: 64, Memory: 8 << 30}, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := ChooseSetup(c.f)
			if err != nil {
				t.Fatal(err)
			}
			if s.LoRA != c.lora || s.BatchSize < c.minBat || s.GradAccum < 1 || s.MaxBatchTokens < 256 {
				t.Fatalf("setup %+v", s)
			}
			if c.f.Examples/(s.BatchSize*s.GradAccum) < 3 {
				t.Fatalf("only %d steps per epoch", c.f.Examples/(s.BatchSize*s.GradAccum))
			}
			for _, ch := range s.Choices {
				if ch.Reason == "" {
					t.Fatalf("choice %s has no reason", ch.Name)
				}
			}
		})
	}
}

// TestEarlyStopKeepsBest trains on answers that are pure noise: the
// validation loss soon rises, the run stops early and returns the weights
// of its best validation.
func TestEarlyStopKeepsBest(t *testing.T) {
	noise := func(n int, seed uint64) []Sequence {
		rng := rand.New(rand.NewPCG(seed, 3))
		seqs := copyTask(n, seed)
		for _, s := range seqs {
			for j, l := range s.Labels {
				if l >= 0 {
					v := int32(rng.IntN(40))
					s.IDs[j], s.Labels[j] = v, v
				}
			}
		}
		return seqs
	}
	m := tinyModel(t)
	m.SetTrainBase(true)
	val := noise(30, 12)
	res, err := Run(context.Background(), m, Data{Train: noise(60, 11), Val: val}, Config{LR: 1e-2, Epochs: 40, BatchSize: 4, EvalEvery: 5, Patience: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res.StopReason != StopEarly || res.BestStep >= res.Steps {
		t.Fatalf("stop %q at step %d, best step %d", res.StopReason, res.Steps, res.BestStep)
	}
	r, err := eval.Loss(context.Background(), m, val, eval.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Loss != res.ValLoss {
		t.Fatalf("returned weights score %v, best validation was %v", r.Loss, res.ValLoss)
	}
}

// TestResumeContinuesExactly interrupts a run (a NaN at step 6 rolls it
// back to its step-5 checkpoint) and resumes another from that
// checkpoint: the result is bit-identical to an uninterrupted run.
func TestResumeContinuesExactly(t *testing.T) {
	data := Data{Train: copyTask(60, 8)}
	base := Config{LR: 2e-3, MaxSteps: 9, Epochs: 5, BatchSize: 4, ValSize: -1, Seed: 4}
	whole := tinyModel(t)
	whole.SetTrainBase(true)
	if _, err := Run(context.Background(), whole, data, base); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	broken := tinyModel(t)
	broken.SetTrainBase(true)
	cfg := base
	cfg.CheckpointDir, cfg.CheckpointEvery, cfg.faultStep = dir, time.Nanosecond, 6
	if res, err := Run(context.Background(), broken, data, cfg); err != nil || res.StopReason != StopDiverged {
		t.Fatalf("interrupted run: %v, %+v", err, res)
	}
	ck := LatestCheckpoint(dir)
	if st, err := ReadCheckpointState(ck); err != nil || st.Step != 5 {
		t.Fatalf("checkpoint %s: %+v %v", ck, st, err)
	}
	resumed := tinyModel(t) // fresh weights: all must come from the checkpoint
	resumed.SetTrainBase(true)
	cfg = base
	cfg.LR, cfg.Resume = 0, ck
	res, err := Run(context.Background(), resumed, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 9 || res.LR != base.LR {
		t.Fatalf("resumed run: %d steps at lr %g", res.Steps, res.LR)
	}
	if !slices.Equal(resumed.Params(), whole.Params()) {
		t.Fatal("the resumed run differs from the uninterrupted one")
	}
	// A checkpoint of another mode does not load.
	lora := tinyModel(t)
	if _, err := lora.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, TargetModules: []string{"q_proj"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), lora, data, cfg); err == nil || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("resuming a full checkpoint into LoRA: %v", err)
	}
}

// Training from a Source (as from a token store) is the same run as from
// slices, and resumes only on the data its checkpoint was written for.
func TestSourceRunResumesOnItsDataOnly(t *testing.T) {
	seqs := copyTask(60, 8)
	base := Config{LR: 2e-3, MaxSteps: 9, Epochs: 5, BatchSize: 4, ValSize: -1, Seed: 4}
	whole := tinyModel(t)
	whole.SetTrainBase(true)
	if _, err := Run(context.Background(), whole, Data{Train: seqs}, base); err != nil {
		t.Fatal(err)
	}
	src := Data{Source: eval.Sequences(seqs)}
	dir := t.TempDir()
	broken := tinyModel(t)
	broken.SetTrainBase(true)
	cfg := base
	cfg.DataID, cfg.CheckpointDir, cfg.CheckpointEvery, cfg.faultStep = "store-a", dir, time.Nanosecond, 6
	if _, err := Run(context.Background(), broken, src, cfg); err != nil {
		t.Fatal(err)
	}
	cfg = base
	cfg.Resume, cfg.DataID = LatestCheckpoint(dir), "store-b"
	other := tinyModel(t)
	other.SetTrainBase(true)
	if _, err := Run(context.Background(), other, src, cfg); err == nil || !strings.Contains(err.Error(), "other data") {
		t.Fatalf("resuming on other data: %v", err)
	}
	resumed := tinyModel(t)
	resumed.SetTrainBase(true)
	cfg.DataID = "store-a"
	if _, err := Run(context.Background(), resumed, src, cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(resumed.Params(), whole.Params()) {
		t.Fatal("the resumed Source run differs from the uninterrupted slice run")
	}
}
