package data

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// prompts makes n prompts of which about dupRate are repeats of earlier
// ones, some with different spacing.
func prompts(n int, dupRate float64, r *rand.Rand) []string {
	out := make([]string, n)
	for i := range out {
		if i > 0 && r.Float64() < dupRate {
			p := out[r.IntN(i)]
			if r.IntN(2) == 0 {
				p = "  " + strings.ReplaceAll(p, " ", "\n\t ") + " "
			}
			out[i] = p
			continue
		}
		out[i] = fmt.Sprintf("question %d about %x", i, r.Uint32())
	}
	return out
}

func split(t *testing.T, ps []string, opt SplitOptions) *Assignment {
	t.Helper()
	s := NewSplitter(opt)
	for _, p := range ps {
		s.Add(p)
	}
	a, err := s.Split()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testSet(ps []string, a *Assignment) map[string]bool {
	set := map[string]bool{}
	for i, p := range ps {
		if a.IsTest(i) {
			set[NormalizePrompt(p)] = true
		}
	}
	return set
}

func TestSplitProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		n    int
		dups float64
		opt  SplitOptions
		want int
	}{
		{n: 2000, dups: 0, opt: SplitOptions{Seed: 42}, want: 200},
		{n: 5000, dups: 0.3, opt: SplitOptions{Seed: 42}, want: 500},
		{n: 12000, dups: 0.1, opt: SplitOptions{Seed: 7}, want: 1000},
		{n: 12000, dups: 0.1, opt: SplitOptions{Seed: 7, MaxTestRows: 400}, want: 400},
		{n: 300, dups: 0.5, opt: SplitOptions{Seed: 1, MinRows: 100, TestFraction: 0.2}, want: 60},
	} {
		t.Run(fmt.Sprintf("n=%d dups=%.1f", tc.n, tc.dups), func(t *testing.T) {
			ps := prompts(tc.n, tc.dups, r)
			a := split(t, ps, tc.opt)
			if a.Test != tc.want || TestSize(tc.n, tc.opt) != tc.want {
				t.Errorf("test rows %d, want %d", a.Test, tc.want)
			}
			// Duplicates never straddle the split.
			side := map[string]bool{}
			count := 0
			for i, p := range ps {
				k := NormalizePrompt(p)
				if s, ok := side[k]; ok && s != a.IsTest(i) {
					t.Fatalf("prompt %q is on both sides", k)
				}
				side[k] = a.IsTest(i)
				if a.IsTest(i) {
					count++
				}
			}
			if count != a.Test || a.Groups != len(side) {
				t.Errorf("count %d vs %d, groups %d vs %d", count, a.Test, a.Groups, len(side))
			}
			// Deterministic, and independent of row order.
			if b := split(t, ps, tc.opt); !reflect.DeepEqual(a, b) {
				t.Error("same input, different split")
			}
			shuffled := append([]string(nil), ps...)
			r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
			if !reflect.DeepEqual(testSet(ps, a), testSet(shuffled, split(t, shuffled, tc.opt))) {
				t.Error("row order changed the held-out prompts")
			}
			// Another seed holds out other prompts.
			other := tc.opt
			other.Seed++
			if reflect.DeepEqual(testSet(ps, a), testSet(ps, split(t, ps, other))) {
				t.Error("seed does not matter")
			}
		})
	}
}

// TestSplitGolden pins the split of a small dataset, so that a change of
// hash or order (which would move test rows between machines or releases)
// is caught.
func TestSplitGolden(t *testing.T) {
	var ps []string
	for i := range 40 {
		ps = append(ps, fmt.Sprintf("prompt %d", i%30))
	}
	a := split(t, ps, SplitOptions{Seed: 42, MinRows: -1})
	var test []int
	for i := range ps {
		if a.IsTest(i) {
			test = append(test, i)
		}
	}
	if got, want := PromptHash("  hello \n world"), PromptHash("hello world"); got != want {
		t.Errorf("normalization: %x != %x", got, want)
	}
	// sha256("hello world") starts b94d27b9934d3e08; read little-endian:
	if got := fmt.Sprintf("%016x", PromptHash("hello world")); got != "083e4d93b9274db9" {
		t.Errorf("PromptHash changed: %s", got)
	}
	// Rows 2 and 32 are both "prompt 2": held out together.
	want := []int{2, 10, 23, 32}
	if !reflect.DeepEqual(test, want) {
		t.Errorf("test rows %v, want %v", test, want)
	}
}

func TestSplitErrors(t *testing.T) {
	s := NewSplitter(SplitOptions{})
	for i := range 1999 {
		s.Add(fmt.Sprint(i))
	}
	if _, err := s.Split(); crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "has 1999 rows; at least 2000") {
		t.Errorf("too few rows: %v", err)
	}
	s = NewSplitter(SplitOptions{MinRows: -1})
	for range 50 {
		s.Add("same prompt")
	}
	if _, err := s.Split(); err == nil || !strings.Contains(err.Error(), "duplicate prompts") {
		t.Errorf("all duplicates: %v", err)
	}
	s = NewSplitter(SplitOptions{MinRows: -1})
	s.Add("only")
	if _, err := s.Split(); err == nil {
		t.Error("one row: no error")
	}
}

// referenceSplit is the split by its definition: every group sorted by
// its hash, taken in that order.
func referenceSplit(keys []uint64, opt SplitOptions) []uint64 {
	want := TestSize(len(keys), opt)
	count := map[uint64]int{}
	for _, k := range keys {
		count[k]++
	}
	seed := mix(opt.withDefaults().Seed ^ 0x9e3779b97f4a7c15)
	type group struct {
		key, order uint64
		size       int
	}
	var groups []group
	for k, c := range count {
		groups = append(groups, group{k, mix(k ^ seed), c})
	}
	slices.SortFunc(groups, func(a, b group) int {
		if a.order != b.order {
			return cmp.Compare(a.order, b.order)
		}
		return cmp.Compare(a.key, b.key)
	})
	var in []uint64
	taken := 0
	for _, g := range groups {
		if taken == want {
			break
		}
		if taken+g.size > want || g.size == len(keys) {
			continue
		}
		in = append(in, g.key)
		taken += g.size
	}
	slices.Sort(in)
	return in
}

// The split collects only the first groups in hash order; it holds out
// exactly what sorting every group would, big groups (skipped) and all,
// also when the first groups collected cannot fill the test side.
func TestSplitMatchesDefinition(t *testing.T) {
	cases := []struct {
		groups  int
		size    func(rng *rand.Rand) int
		maxTest int
	}{
		// Many groups, a few too big to take: the collected prefix fills it.
		{40000, func(rng *rand.Rand) int {
			switch rng.IntN(400) {
			case 0:
				return 200 + rng.IntN(900)
			case 1, 2, 3:
				return 2 + rng.IntN(5)
			}
			return 1
		}, 500},
		// Nearly every group is bigger than the test side: the prefix
		// cannot fill it and the split looks further.
		{30000, func(rng *rand.Rand) int {
			if rng.IntN(1000) == 0 {
				return 1
			}
			return 11
		}, 10},
	}
	for ci, c := range cases {
		for seed := range uint64(2) {
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			var keys []uint64
			for range c.groups {
				k := rng.Uint64()
				for range c.size(rng) {
					keys = append(keys, k)
				}
			}
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			opt := SplitOptions{Seed: seed, MaxTestRows: c.maxTest, TestFraction: 0.5}
			s := NewSplitter(opt)
			s.keys = keys
			a, err := s.Split()
			if err != nil {
				t.Fatal(err)
			}
			want := referenceSplit(keys, opt)
			var got []uint64
			for i, k := range keys {
				if a.IsTest(i) {
					got = append(got, k)
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if !slices.Equal(got, want) || a.Groups != c.groups {
				t.Fatalf("case %d seed %d: held out %d groups, the definition %d; %d groups counted", ci, seed, len(got), len(want), a.Groups)
			}
		}
	}
}
