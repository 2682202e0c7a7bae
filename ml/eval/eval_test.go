package eval

import (
	"context"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/nn"
)

func tinySeqs(n int) []Sequence {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]Sequence, n)
	for i := range out {
		k := 2 + rng.IntN(20)
		s := Sequence{IDs: make([]int32, k), Labels: make([]int32, k)}
		for j := range s.IDs {
			s.IDs[j] = int32(rng.IntN(32))
			s.Labels[j] = s.IDs[j]
			if j < k/2 {
				s.Labels[j] = model.IgnoreIndex
			}
		}
		out[i] = s
	}
	return out
}

func TestLossMatchesPerSequenceAndIsBitIdentical(t *testing.T) {
	m, err := model.New(model.NewLlamaConfig(32, 64, 2, 4, 2, 32, 64), 3)
	if err != nil {
		t.Fatal(err)
	}
	seqs := tinySeqs(37)
	r1, err := Loss(context.Background(), m, seqs, Options{MaxBatchTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Loss(context.Background(), m, seqs, Options{MaxBatchTokens: 64})
	if err != nil {
		t.Fatal(err)
	}
	if math.Float64bits(r1.Loss) != math.Float64bits(r2.Loss) || !slices.Equal(r1.SeqSum, r2.SeqSum) {
		t.Fatal("two evaluations differ")
	}
	// Each sequence evaluated alone gives (nearly) its batched loss: right
	// padding does not leak into real positions.
	var sum float64
	count := 0
	for i, s := range seqs {
		one, err := Loss(context.Background(), m, []Sequence{s}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d := math.Abs(one.SeqSum[0] - r1.SeqSum[i]); d > 1e-4*math.Abs(one.SeqSum[0])+1e-5 {
			t.Fatalf("sequence %d: alone %v, batched %v", i, one.SeqSum[0], r1.SeqSum[i])
		}
		sum += r1.SeqSum[i]
		count += s.Counted()
	}
	if r1.Tokens != count || math.Abs(r1.Loss-sum/float64(count)) > 1e-12 || r1.Samples != len(seqs) {
		t.Fatalf("loss %v over %d tokens, want %v over %d", r1.Loss, r1.Tokens, sum/float64(count), count)
	}
	if math.Abs(r1.Perplexity-math.Exp(r1.Loss)) > 1e-9 {
		t.Fatal("perplexity is not exp(loss)")
	}
	if _, err := Loss(context.Background(), m, []Sequence{{IDs: []int32{1, 2}, Labels: []int32{-100, -100}}}, Options{}); err != ErrNoTokens {
		t.Fatalf("no scored tokens: %v", err)
	}
}

func TestPlanIsFixedByLengths(t *testing.T) {
	lengths := []int{5, 3, 9, 3, 7, 1}
	got := Plan(lengths, Options{MaxBatchTokens: 12, MaxBatch: 3})
	want := [][]int{{5, 1, 3}, {0}, {4}, {2}}
	if len(got) != len(want) {
		t.Fatalf("plan %v, want %v", got, want)
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("plan %v, want %v", got, want)
		}
	}
}

func TestDPOFigures(t *testing.T) {
	pol := LogProbs{Chosen: []float64{-1, -5}, Rejected: []float64{-3, -2}}
	ref := LogProbs{Chosen: []float64{-2, -4}, Rejected: []float64{-2, -4}}
	r, err := DPO(pol, ref, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	// margins: 0.1·((1) − (−1)) = 0.2 and 0.1·((−1) − (2)) = −0.3
	wantLoss := (Softplus(-0.2) + Softplus(0.3)) / 2
	if math.Abs(r.Loss-wantLoss) > 1e-12 || r.Accuracy != 0.5 || math.Abs(r.Margin-(-0.05)) > 1e-12 {
		t.Fatalf("got %+v, want loss %v accuracy 0.5 margin -0.05", r, wantLoss)
	}
	same, _ := DPO(ref, ref, 0.1)
	if math.Abs(same.Loss-math.Ln2) > 1e-12 {
		t.Fatalf("policy = reference gives %v, want ln 2", same.Loss)
	}
	if Softplus(1000) != 1000 || Softplus(-1000) != 0 {
		t.Fatal("softplus overflows")
	}
}

func TestNumerics(t *testing.T) {
	n := Numerics()
	parts := strings.Split(strings.TrimPrefix(n, "fp32/"+runtime.GOARCH+"-"), "/")
	if !strings.HasPrefix(n, "fp32/"+runtime.GOARCH+"-") || len(parts) != 2 || parts[0] != kernel.Numerics() || parts[1] != nn.Numerics() {
		t.Errorf("Numerics() = %q", n)
	}
}
