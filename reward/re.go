package reward

import (
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// reModule is the re module Starlark rewards may use: regular
// expressions in Go's RE2 syntax (linear time, so no pattern can make a
// call run away), with search, match, fullmatch, findall, sub and split
// in the spirit of Python's re.
var reModule = &starlarkstruct.Module{
	Name: "re",
	Members: starlark.StringDict{
		"search":    starlark.NewBuiltin("re.search", reSearch(false, false)),
		"match":     starlark.NewBuiltin("re.match", reSearch(true, false)),
		"fullmatch": starlark.NewBuiltin("re.fullmatch", reSearch(true, true)),
		"findall":   starlark.NewBuiltin("re.findall", reFindall),
		"sub":       starlark.NewBuiltin("re.sub", reSub),
		"split":     starlark.NewBuiltin("re.split", reSplit),
	},
}

// reCache keeps compiled patterns: rewards use a handful of them, called
// for every completion. It stops growing at maxCached patterns.
var (
	reCache  sync.Map
	reCached atomic.Int64
)

const maxCached = 512

const maxPattern = 4096

func compileRE(fn string, pat string) (*regexp.Regexp, error) {
	if v, ok := reCache.Load(pat); ok {
		return v.(*regexp.Regexp), nil
	}
	if len(pat) > maxPattern {
		return nil, fmt.Errorf("%s: pattern of %d bytes is longer than %d", fn, len(pat), maxPattern)
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", fn, err)
	}
	if reCached.Add(1) <= maxCached {
		reCache.Store(pat, re)
	}
	return re, nil
}

// reSearch returns the match (the whole match, or None) anchored at the
// start (match) or over the whole string (fullmatch), or anywhere.
func reSearch(anchorStart, anchorEnd bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var pat, s string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pat, &s); err != nil {
			return nil, err
		}
		if anchorStart {
			pat = `\A(?:` + pat + `)`
		}
		if anchorEnd {
			pat += `\z`
		}
		re, err := compileRE(b.Name(), pat)
		if err != nil {
			return nil, err
		}
		loc := re.FindStringSubmatchIndex(s)
		if loc == nil {
			return starlark.None, nil
		}
		groups := make([]starlark.Value, 0, len(loc)/2)
		for i := 0; i < len(loc); i += 2 {
			if loc[i] < 0 {
				groups = append(groups, starlark.None)
			} else {
				groups = append(groups, starlark.String(s[loc[i]:loc[i+1]]))
			}
		}
		// The match: index 0 is the whole match, then the groups, as
		// Python's m.group(0), m.group(1), ...
		return starlark.Tuple(groups), nil
	}
}

func reFindall(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pat, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pat, &s); err != nil {
		return nil, err
	}
	re, err := compileRE(b.Name(), pat)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, m := range re.FindAllStringSubmatch(s, -1) {
		switch len(m) {
		case 1:
			out = append(out, starlark.String(m[0]))
		case 2:
			out = append(out, starlark.String(m[1]))
		default:
			t := make(starlark.Tuple, len(m)-1)
			for i, g := range m[1:] {
				t[i] = starlark.String(g)
			}
			out = append(out, t)
		}
	}
	return starlark.NewList(out), nil
}

func reSub(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pat, repl, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 3, &pat, &repl, &s); err != nil {
		return nil, err
	}
	re, err := compileRE(b.Name(), pat)
	if err != nil {
		return nil, err
	}
	out := re.ReplaceAllString(s, repl)
	if len(out) > 1<<20 && len(out) > 4*len(s) {
		return nil, fmt.Errorf("%s: the result of %d bytes is too large", b.Name(), len(out))
	}
	return starlark.String(out), nil
}

func reSplit(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pat, s string
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &pat, &s); err != nil {
		return nil, err
	}
	re, err := compileRE(b.Name(), pat)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, p := range re.Split(s, -1) {
		out = append(out, starlark.String(p))
	}
	return starlark.NewList(out), nil
}
