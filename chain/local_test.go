package chain

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestLocalRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chain.json")
	fixed := time.Unix(1_800_000_000, 0)
	opts := LocalOptions{Path: path, Params: devParams(), Now: func() time.Time { return fixed }}
	l, err := OpenLocal(opts)
	must(t, err)
	setupNet(t, l, []float64{100, 50}, 2)
	must(t, l.SetWeights(ctx, "v0", []uint16{2, 3}, []uint16{2, 1}, 0))
	must(t, l.ServeAxon(ctx, "m0", "10.1.2.3", 8091))
	must(t, l.Advance(ctx, 13)) // one more epoch, and 3 blocks of pending emission
	before, err := l.Metagraph(ctx)
	must(t, err)

	st, err := os.Stat(path)
	must(t, err)
	if st.Size() == 0 {
		t.Fatal("state file is empty")
	}
	l2, err := OpenLocal(opts)
	must(t, err)
	after, err := l2.Metagraph(ctx)
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("metagraph changed across a restart:\nbefore %+v\nafter  %+v", before, after)
	}
	// The restarted chain goes on where the first left off: the rate
	// limit still sees v0's last update, the pending emission is paid.
	must(t, l.Advance(ctx, 7))
	must(t, l2.Advance(ctx, 7))
	a, _ := l.Metagraph(ctx)
	b, _ := l2.Metagraph(ctx)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("restarted chain diverged:\n%+v\n%+v", a, b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLocalBadStateFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"malformed":  `{"version": 1, "neurons": [`,
		"version":    `{"version": 99}`,
		"bad uid":    `{"version": 1, "neurons": [{"hotkey": "a", "weights": [{"uid": 5, "value": 1}]}]}`,
		"wrong type": `{"version": "one"}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
			must(t, os.WriteFile(path, []byte(content), 0o644))
			_, err := OpenLocal(LocalOptions{Path: path, Params: devParams()})
			if err == nil || !strings.Contains(err.Error(), path) || crucible.ErrorCode(err) != crucible.EINVALID {
				t.Fatalf("err = %v", err)
			}
		})
	}
	p := devParams()
	p.Kappa = 2
	if _, err := OpenLocal(LocalOptions{Params: p}); err == nil || !strings.Contains(err.Error(), "kappa") {
		t.Fatalf("bad params: %v", err)
	}
}

func TestWaitBlock(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLocal(LocalOptions{Params: devParams()})
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- l.WaitBlock(ctx, 3) }()
	must(t, l.Advance(ctx, 2))
	select {
	case err := <-done:
		t.Fatalf("WaitBlock returned at block 2: %v", err)
	default:
	}
	must(t, l.Advance(ctx, 1))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.WaitBlock(cctx, 100); err == nil {
		t.Fatal("WaitBlock ignored a cancelled context")
	}
}

func TestRunAdvancesClock(t *testing.T) {
	l, err := OpenLocal(LocalOptions{Params: devParams()})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, time.Millisecond) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	must(t, l.WaitBlock(wctx, 3))
	cancel()
	must(t, <-done)
}

func TestEpochInputErrors(t *testing.T) {
	good := func() EpochInput {
		return EpochInput{Stake: []float64{1, 0}, LastUpdate: []int64{1, 1}, RegisteredAt: []int64{0, 0},
			Permit: []bool{true, false}, Weights: newMatrix(2), Bonds: newMatrix(2), OwnerUID: -1}
	}
	tests := map[string]func(*EpochInput){
		"short last update": func(in *EpochInput) { in.LastUpdate = in.LastUpdate[:1] },
		"short weights row": func(in *EpochInput) { in.Weights[1] = in.Weights[1][:1] },
		"negative weight":   func(in *EpochInput) { in.Weights[0][1] = -1 },
		"NaN stake":         func(in *EpochInput) { in.Stake[0] = nan() },
		"short permit":      func(in *EpochInput) { in.Permit = nil },
	}
	for name, mutate := range tests {
		in := good()
		mutate(&in)
		if _, err := Epoch(in, devParams()); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Epoch(good(), devParams()); err != nil {
		t.Fatal(err)
	}
}

func nan() float64 { var z float64; return z / z }

// The permit goes to the top-k stake; among equals the higher uid wins,
// as Subtensor's stable ascending sort decides.
func TestTopKNonzero(t *testing.T) {
	got := topKNonzero([]float64{0.2, 0.2, 0.2, 0, 0.4}, 2)
	want := []bool{false, false, true, false, true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	got = topKNonzero([]float64{0.5, 0, 0.5}, 5)
	if !reflect.DeepEqual(got, []bool{true, false, true}) {
		t.Fatalf("k > n: %v", got)
	}
}

func TestWeightedMedian(t *testing.T) {
	W := [][]float64{{0.1}, {0.5}, {0.9}}
	for _, tt := range []struct {
		stake []float64
		kappa float64
		want  float64
	}{
		{[]float64{1, 1, 1}, 0.5, 0.5},
		{[]float64{3, 1, 1}, 0.5, 0.1},  // a 60% majority at 0.1
		{[]float64{1, 1, 3}, 0.5, 0.9},  // a 60% majority at 0.9
		{[]float64{1, 1, 3}, 0.7, 0.5},  // 70% must back it: 0.5 (with 80%)
		{[]float64{0, 1, 1}, 0.5, 0.9},  // zero stake does not vote; half the stake meets 0.9, and half is κ
		{[]float64{0, 0, 0}, 0.5, 0},    // nobody votes
		{[]float64{1, 1, 1}, 0.99, 0.1}, // near unanimity: the minimum
		{[]float64{1, 1, 1}, 0.01, 0.9}, // near nobody: the maximum
	} {
		if got := weightedMedianCols(tt.stake, W, tt.kappa)[0]; got != tt.want {
			t.Errorf("stake %v κ %v: got %v, want %v", tt.stake, tt.kappa, got, tt.want)
		}
	}
}

// A validator that just staked gets its permit from an epoch run on demand
// instead of waiting for the tempo.
func TestRunEpoch(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLocal(LocalOptions{Params: devParams()})
	must(t, err)
	_, err = l.Register(ctx, "v", "c")
	must(t, err)
	_, err = l.Register(ctx, "m", "c")
	must(t, err)
	must(t, l.AddStake(ctx, "v", 10))
	wantErr(t, "before the epoch", l.SetWeights(ctx, "v", []uint16{1}, []uint16{1}, 0), ErrNeuronNoValidatorPermit)
	must(t, l.RunEpoch(ctx))
	must(t, l.SetWeights(ctx, "v", []uint16{1}, []uint16{1}, 0))
	m, err := l.Metagraph(ctx)
	must(t, err)
	if m.LastEpochBlock != 0 || !m.Neurons[0].Validator {
		t.Fatalf("last epoch %d, permit %v", m.LastEpochBlock, m.Neurons[0].Validator)
	}
}
