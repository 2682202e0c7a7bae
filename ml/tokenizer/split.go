package tokenizer

import (
	"fmt"
	"strings"

	"github.com/dlclark/regexp2/v2"
)

// splitBehavior is what a Split pre-tokenizer does with the text its pattern
// matches (the delimiters), as the reference's SplitDelimiterBehavior.
type splitBehavior int

const (
	splitRemoved            splitBehavior = iota // delimiters dropped
	splitIsolated                                // each delimiter a piece of its own
	splitMergedWithPrevious                      // a delimiter joins the piece before it
	splitMergedWithNext                          // a delimiter joins the piece after it
	splitContiguous                              // runs of delimiters form one piece
)

var splitBehaviors = map[string]splitBehavior{
	"Removed": splitRemoved, "Isolated": splitIsolated, "MergedWithPrevious": splitMergedWithPrevious,
	"MergedWithNext": splitMergedWithNext, "Contiguous": splitContiguous,
}

// matcher finds the non-empty, non-overlapping matches of a pattern, left
// to right.
type matcher interface {
	find(s string, match func(lo, hi int))
}

type literalMatcher string

func (m literalMatcher) find(s string, match func(lo, hi int)) {
	sep := string(m)
	for off := 0; ; {
		i := strings.Index(s[off:], sep)
		if i < 0 {
			return
		}
		match(off+i, off+i+len(sep))
		off += i + len(sep)
	}
}

type regexMatcher struct{ re *regexp2.Regexp }

func (m regexMatcher) find(s string, match func(lo, hi int)) {
	for mt, err := m.re.FindStringMatch(s); err == nil && mt != nil; mt, err = m.re.FindNextMatch(mt) {
		if lo, n := mt.ByteRange(); n > 0 {
			match(lo, lo+n)
		}
	}
}

// genericSplit is Split with any behavior and invert; the common cases
// (Isolated or Removed literals, the known regexes Isolated) have faster
// pre-tokenizers of their own.
type genericSplit struct {
	m        matcher
	behavior splitBehavior
	invert   bool
}

// segment is a stretch of the input and whether it is a delimiter.
type segment struct {
	lo, hi int
	delim  bool
}

func (p genericSplit) split(s string, _ bool, emit func(string)) {
	var segs []segment
	last := 0
	p.m.find(s, func(lo, hi int) {
		if lo > last {
			segs = append(segs, segment{last, lo, p.invert})
		}
		segs = append(segs, segment{lo, hi, !p.invert})
		last = hi
	})
	if last < len(s) {
		segs = append(segs, segment{last, len(s), p.invert})
	}
	for _, sg := range p.apply(segs) {
		if sg.hi > sg.lo {
			emit(s[sg.lo:sg.hi])
		}
	}
}

// apply merges or drops the delimiter segments as the behavior says.
func (p genericSplit) apply(segs []segment) []segment {
	var out []segment
	prev := false
	switch p.behavior {
	case splitRemoved:
		for _, sg := range segs {
			if !sg.delim {
				out = append(out, sg)
			}
		}
	case splitIsolated:
		out = segs
	case splitMergedWithPrevious:
		for _, sg := range segs {
			if sg.delim && !prev && len(out) > 0 {
				out[len(out)-1].hi = sg.hi
			} else {
				out = append(out, sg)
			}
			prev = sg.delim
		}
	case splitMergedWithNext:
		for i := len(segs) - 1; i >= 0; i-- {
			sg := segs[i]
			if sg.delim && !prev && len(out) > 0 {
				out[len(out)-1].lo = sg.lo
			} else {
				out = append(out, sg)
			}
			prev = sg.delim
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	case splitContiguous:
		for i, sg := range segs {
			if i > 0 && sg.delim == prev {
				out[len(out)-1].hi = sg.hi
			} else {
				out = append(out, sg)
			}
			prev = sg.delim
		}
	}
	return out
}

// newMatcher compiles a Split pattern.
func newMatcher(p patternJSON, field string) (matcher, error) {
	if p.String != nil {
		if *p.String == "" {
			return nil, fmt.Errorf("%s.pattern: empty String", field)
		}
		return literalMatcher(*p.String), nil
	}
	if p.Regex == nil {
		return nil, fmt.Errorf("%s.pattern: want String or Regex", field)
	}
	re, err := regexp2.Compile(*p.Regex, regexp2.None)
	if err != nil {
		return nil, fmt.Errorf("%s.pattern.Regex: %w", field, err)
	}
	return regexMatcher{re}, nil
}
