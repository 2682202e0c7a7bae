package chain

import (
	"context"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestMaxUpscale(t *testing.T) {
	for _, tt := range []struct{ in, want []uint16 }{
		{[]uint16{1, 2, 4}, []uint16{16384, 32768, 65535}},
		{[]uint16{65535 / 4, 65535 / 2, (65535 / 4) * 3, 65535}, []uint16{16383, 32767, 49149, 65535}},
		{[]uint16{0, 0}, []uint16{0, 0}},
		{[]uint16{7}, []uint16{65535}},
	} {
		if got := MaxUpscale(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MaxUpscale(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestConvertWeights(t *testing.T) {
	uids, vals, err := ConvertWeights([]uint16{3, 5, 7, 9}, []float64{0.5, 0, 0.25, 1e-9})
	must(t, err)
	if !reflect.DeepEqual(uids, []uint16{3, 7}) || !reflect.DeepEqual(vals, []uint16{65535, 32768}) {
		t.Fatalf("got %v %v", uids, vals)
	}
	uids, vals, err = ConvertWeights([]uint16{1}, []float64{0})
	if err != nil || len(uids) != 0 || len(vals) != 0 {
		t.Fatalf("all zero: %v %v %v", uids, vals, err)
	}
	if _, _, err := ConvertWeights([]uint16{1, 2}, []float64{1, -1}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Fatalf("negative weight: %v", err)
	}
	if _, _, err := ConvertWeights([]uint16{1, 2}, []float64{1, math.NaN()}); err == nil {
		t.Fatal("NaN weight accepted")
	}
	if _, _, err := ConvertWeights([]uint16{1}, []float64{1, 2}); err == nil {
		t.Fatal("length mismatch accepted")
	}
}

func TestNormalizeMaxWeight(t *testing.T) {
	for _, tt := range []struct {
		x     []float64
		limit float64
		want  []float64
	}{
		{[]float64{1, 1, 2}, 0.5, []float64{0.25, 0.25, 0.5}},                         // already within the limit
		{[]float64{8, 1, 1}, 0.5, []float64{0.5, 0.25, 0.25}},                         // one capped
		{[]float64{10, 10, 1, 1, 1, 1}, 0.3, []float64{0.3, 0.3, 0.1, 0.1, 0.1, 0.1}}, // two capped
		{[]float64{5, 1}, 0.4, []float64{0.5, 0.5}},                                   // impossible: uniform
		{[]float64{0, 0, 0}, 0.5, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},               // nothing: uniform
	} {
		got := NormalizeMaxWeight(tt.x, tt.limit)
		for i := range tt.want {
			if math.Abs(got[i]-tt.want[i]) > 1e-12 {
				t.Errorf("NormalizeMaxWeight(%v, %v) = %v, want %v", tt.x, tt.limit, got, tt.want)
				break
			}
		}
	}
}

// countingChain counts metagraph fetches.
type countingChain struct {
	*Local
	fetches int
}

func (c *countingChain) Metagraph(ctx context.Context) (*Metagraph, error) {
	c.fetches++
	return c.Local.Metagraph(ctx)
}

func TestMetagraphCache(t *testing.T) {
	ctx := context.Background()
	l, err := OpenLocal(LocalOptions{Params: devParams()})
	must(t, err)
	cc := &countingChain{Local: l}
	now := time.Unix(1000, 0)
	mc := NewMetagraphCache(cc, time.Minute)
	mc.now = func() time.Time { return now }
	setupNet(t, l, []float64{100, 5}, 1) // v0 (permit), v1 (permit), m0

	auth := mc.Authorizer(10, true)
	if err := auth(ctx, "v0"); err != nil {
		t.Fatalf("v0: %v", err)
	}
	if err := auth(ctx, "v1"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Fatalf("low stake: %v", err)
	}
	if cc.fetches != 2 { // a refusal is checked against a fresh metagraph
		t.Fatalf("%d fetches, want 2", cc.fetches)
	}
	must(t, l.AddStake(ctx, "m0", 50))
	// Within the second of that refetch, the cached stake (0) still counts.
	if err := mc.Authorizer(10, false)(ctx, "m0"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Fatalf("cached stake should still be 0: %v", err)
	}
	if cc.fetches != 2 {
		t.Fatalf("%d fetches, want 2", cc.fetches)
	}
	// A second later, a caller the cache would refuse is checked again
	// against a fresh metagraph: the stake just added counts.
	now = now.Add(2 * time.Second)
	if err := mc.Authorizer(10, false)(ctx, "m0"); err != nil || cc.fetches != 3 {
		t.Fatalf("stake added after the cache was filled: %v (%d fetches)", err, cc.fetches)
	}
	now = now.Add(2 * time.Minute)
	if err := mc.Authorizer(10, false)(ctx, "m0"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if err := auth(ctx, "m0"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Fatalf("no permit: %v", err)
	}
	// A newly registered hotkey is found by refetching; unknown ones
	// refetch at most once a second.
	_, err = l.Register(ctx, "new", "cold")
	must(t, err)
	now = now.Add(2 * time.Second)
	if _, err := mc.Node(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	before := cc.fetches
	for range 5 {
		if err := auth(ctx, "stranger"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
			t.Fatalf("stranger: %v", err)
		}
	}
	if cc.fetches-before > 1 {
		t.Fatalf("%d fetches for unknown hotkeys within a second", cc.fetches-before)
	}
}
