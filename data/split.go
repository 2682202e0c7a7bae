package data

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/crucible-net/crucible/crucible"
)

// Split defaults, after Gradients: a tenth of the rows, at most 1000, held
// out for testing, from datasets of at least 2000 rows.
const (
	DefaultTestFraction = 0.1
	DefaultMaxTestRows  = 1000
	DefaultMinRows      = 2000
)

// SplitOptions controls the train/test split. Zero fields take the
// defaults.
type SplitOptions struct {
	Seed         uint64  // different seeds give different splits
	TestFraction float64 // share of rows held out. Defaults to 0.1.
	MaxTestRows  int     // cap on held-out rows. Defaults to 1000.
	MinRows      int     // fewer rows is an error. Defaults to 2000; -1 disables the check.
}

func (o SplitOptions) withDefaults() SplitOptions {
	if o.TestFraction <= 0 {
		o.TestFraction = DefaultTestFraction
	}
	if o.MaxTestRows <= 0 {
		o.MaxTestRows = DefaultMaxTestRows
	}
	if o.MinRows == 0 {
		o.MinRows = DefaultMinRows
	}
	return o
}

// Splitter assigns rows to train or test. Add every row's prompt key in
// order (it keeps 8 bytes per row, not the row), then call Split.
//
// Rows whose normalized prompts are equal form a group, and a group goes
// wholly to one side, so that no test prompt is also a training prompt. The
// groups are ordered by a hash of their prompt and the seed, and the test
// side takes groups in that order until it holds its size, skipping groups
// that would overshoot it. The split therefore depends only on the set of
// prompts and the seed: the same file and seed give the same split on any
// machine, and reordering the rows does not change which prompts are held
// out.
type Splitter struct {
	opt  SplitOptions
	keys []uint64
}

// NewSplitter returns a splitter with opt's defaults filled in.
func NewSplitter(opt SplitOptions) *Splitter {
	return &Splitter{opt: opt.withDefaults()}
}

// Add records the next row's prompt key (see Example.PromptKey).
func (s *Splitter) Add(promptKey string) {
	s.keys = append(s.keys, PromptHash(promptKey))
}

// Assignment says which rows are held out for testing.
type Assignment struct {
	test   []bool
	Rows   int // all rows
	Test   int // rows held out
	Groups int // distinct normalized prompts
}

// IsTest reports whether row i (in Add order) is in the test split.
func (a *Assignment) IsTest(i int) bool { return a.test[i] }

// TestSize is the number of rows a dataset of n rows holds out:
// min(floor(fraction·n), max), and at least 1.
func TestSize(n int, opt SplitOptions) int {
	opt = opt.withDefaults()
	size := int(opt.TestFraction * float64(n))
	if size > opt.MaxTestRows {
		size = opt.MaxTestRows
	}
	if size < 1 {
		size = 1
	}
	return size
}

// Split assigns the rows added so far. Returns EINVALID when there are
// fewer than MinRows rows, or when duplicates leave no way to hold any row
// out.
func (s *Splitter) Split() (*Assignment, error) {
	n := len(s.keys)
	if s.opt.MinRows > 0 && n < s.opt.MinRows {
		return nil, crucible.Errorf(crucible.EINVALID, "the dataset has %d rows; at least %d are needed to hold out a test split", n, s.opt.MinRows).
			WithHint("add rows, or lower the minimum (min_rows)")
	}
	if n < 2 {
		return nil, crucible.Errorf(crucible.EINVALID, "the dataset has %d rows; at least 2 are needed to split it", n)
	}
	want := TestSize(n, s.opt)
	sorted := append([]uint64(nil), s.keys...)
	slices.Sort(sorted)
	seed := mix(s.opt.Seed ^ 0x9e3779b97f4a7c15)
	// Groups are taken in the order of their hash until the test side is
	// full. Only the first few in that order matter, so only the groups
	// whose hash is below a limit are collected (the hashes are uniform:
	// the limit sets how many), and the limit grows when they do not fill
	// the test side. The outcome is that of sorting every group.
	groups := 0
	for i := 0; i < n; i++ {
		if i == 0 || sorted[i] != sorted[i-1] {
			groups++
		}
	}
	type group struct {
		key, order uint64
		size       int
	}
	var inTest []uint64 // keys of the held-out groups
	taken := 0
	for expect := max(8*want, 4096); ; expect *= 8 {
		limit := uint64(math.MaxUint64)
		if expect < groups {
			limit = uint64(float64(math.MaxUint64) / float64(groups) * float64(expect))
		}
		var cands []group
		for i := 0; i < n; {
			j := i + 1
			for j < n && sorted[j] == sorted[i] {
				j++
			}
			if o := mix(sorted[i] ^ seed); o < limit || limit == math.MaxUint64 {
				cands = append(cands, group{key: sorted[i], order: o, size: j - i})
			}
			i = j
		}
		sort.Slice(cands, func(i, j int) bool {
			if cands[i].order != cands[j].order {
				return cands[i].order < cands[j].order
			}
			return cands[i].key < cands[j].key
		})
		inTest, taken = inTest[:0], 0
		for _, g := range cands {
			if taken == want {
				break
			}
			if taken+g.size > want || g.size == n {
				continue // a group never overshoots the test size nor takes every row
			}
			inTest = append(inTest, g.key)
			taken += g.size
		}
		if taken == want || limit == math.MaxUint64 {
			break
		}
	}
	sorted = nil
	if taken == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "cannot hold out a test split: every group of duplicate prompts is larger than the test size %d", want)
	}
	slices.Sort(inTest)
	a := &Assignment{test: make([]bool, n), Rows: n, Test: taken, Groups: groups}
	for i, k := range s.keys {
		_, a.test[i] = slices.BinarySearch(inTest, k)
	}
	return a, nil
}

// PromptHash is the 64-bit hash of a normalized prompt: its words, split at
// white space and rejoined with single spaces. Case and punctuation are
// kept: "exact duplicates" differ only in spacing.
func PromptHash(prompt string) uint64 {
	sum := sha256.Sum256([]byte(NormalizePrompt(prompt)))
	return binary.LittleEndian.Uint64(sum[:8])
}

// NormalizePrompt collapses runs of white space to one space and trims the
// ends.
func NormalizePrompt(s string) string {
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// mix is SplitMix64's finalizer, a fixed, portable 64-bit bijection.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
