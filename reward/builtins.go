package reward

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// The built-in rewards. Each is a pure function of its inputs.
func init() {
	register(BuiltinInfo{Name: "exact_answer", Range: "0 or 1",
		Doc:  "1 when the completion's answer (after the last \"####\", inside <answer>...</answer>, or the whole completion) equals the extra column, ignoring case, spacing and a final period",
		Args: map[string]string{"field": "extra column holding the expected answer (default answer)", "case_sensitive": "compare case too (default false)"}},
		func(a *args) (Func, error) {
			field, err := a.field()
			if err != nil {
				return nil, err
			}
			cs, err := a.boolean("case_sensitive", false)
			if err != nil {
				return nil, err
			}
			return funcOf{needs: []string{field}, score: func(_, c string, extra map[string]any) (float64, error) {
				want, err := extraText(a.reward, field, extra)
				if err != nil {
					return 0, err
				}
				if normalizeAnswer(answerPart(c), cs) == normalizeAnswer(want, cs) {
					return 1, nil
				}
				return 0, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "numeric_answer", Range: "0 or 1",
		Doc:  "1 when the last number in the completion's answer is within tolerance of the extra column's number: |x − want| ≤ tolerance · max(1, |want|)",
		Args: map[string]string{"field": "extra column holding the expected number (default answer)", "tolerance": "relative tolerance (default 1e-6)"}},
		func(a *args) (Func, error) {
			field, err := a.field()
			if err != nil {
				return nil, err
			}
			tol, err := a.num("tolerance", 1e-6)
			if err != nil {
				return nil, err
			}
			if tol < 0 {
				return nil, a.errf("argument tolerance: %g must be ≥ 0", tol)
			}
			return funcOf{needs: []string{field}, score: func(_, c string, extra map[string]any) (float64, error) {
				s, err := extraText(a.reward, field, extra)
				if err != nil {
					return 0, err
				}
				want, ok := parseNumber(s)
				if !ok {
					return 0, &Error{Reward: a.reward, Problem: fmt.Sprintf("extra column %q holds %q, not a number", field, clip(s, 40))}
				}
				got, ok := lastNumber(answerPart(c))
				if ok && math.Abs(got-want) <= tol*math.Max(1, math.Abs(want)) {
					return 1, nil
				}
				return 0, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "contains_answer", Range: "0 or 1",
		Doc:  "1 when the completion contains the extra column's text, ignoring case",
		Args: map[string]string{"field": "extra column holding the text to find (default answer)"}},
		func(a *args) (Func, error) {
			field, err := a.field()
			if err != nil {
				return nil, err
			}
			return funcOf{needs: []string{field}, score: func(_, c string, extra map[string]any) (float64, error) {
				want, err := extraText(a.reward, field, extra)
				if err != nil {
					return 0, err
				}
				if strings.Contains(strings.ToLower(c), strings.ToLower(strings.TrimSpace(want))) {
					return 1, nil
				}
				return 0, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "regex_match", Range: "0 or 1",
		Doc:  "1 when the completion matches a regular expression (RE2 syntax; anywhere, or the whole completion with full=true)",
		Args: map[string]string{"pattern": "the regular expression (required)", "full": "match the whole completion (default false)"}},
		func(a *args) (Func, error) {
			pat := a.str("pattern", "")
			if pat == "" {
				return nil, a.errf("argument pattern is required")
			}
			full, err := a.boolean("full", false)
			if err != nil {
				return nil, err
			}
			if full {
				pat = `\A(?:` + pat + `)\z`
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, a.errf("argument pattern: %v", err)
			}
			return funcOf{score: func(_, c string, _ map[string]any) (float64, error) {
				if re.MatchString(c) {
					return 1, nil
				}
				return 0, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "think_answer_format", Range: "0 or 1",
		Doc: "1 when the completion is <think>...</think> followed by <answer>...</answer> (reasoning, then the answer)"},
		func(a *args) (Func, error) {
			re := regexp.MustCompile(`(?s)\A\s*<think>.*?</think>\s*<answer>.*?</answer>\s*\z`)
			return funcOf{score: func(_, c string, _ map[string]any) (float64, error) {
				if re.MatchString(c) {
					return 1, nil
				}
				return 0, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "length_window", Range: "0 to 1",
		Doc: "1 when the completion's length is within [min, max]; below min, length/min; above max, falling linearly to 0 at twice max",
		Args: map[string]string{"min": "shortest length with full reward (default 0)", "max": "longest length with full reward (required)",
			"unit": "words or chars (default words)"}},
		func(a *args) (Func, error) {
			lo, err := a.num("min", 0)
			if err != nil {
				return nil, err
			}
			hi, err := a.num("max", -1)
			if err != nil {
				return nil, err
			}
			if hi <= 0 || lo < 0 || lo > hi {
				return nil, a.errf("arguments min %g and max %g: want 0 ≤ min ≤ max and max > 0 (max is required)", lo, hi)
			}
			unit := a.str("unit", "words")
			if unit != "words" && unit != "chars" {
				return nil, a.errf("argument unit: %q is not words or chars", unit)
			}
			return funcOf{score: func(_, c string, _ map[string]any) (float64, error) {
				n := float64(len(strings.Fields(c)))
				if unit == "chars" {
					n = float64(utf8.RuneCountInString(c))
				}
				switch {
				case n < lo:
					return n / lo, nil
				case n > hi:
					return math.Max(0, 1-(n-hi)/hi), nil
				}
				return 1, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "json_valid", Range: "0 or 1",
		Doc:  "1 when the completion (without surrounding space or a ``` code fence) is valid JSON",
		Args: map[string]string{"object": "require a JSON object (default false)"}},
		func(a *args) (Func, error) {
			obj, err := a.boolean("object", false)
			if err != nil {
				return nil, err
			}
			return funcOf{score: func(_, c string, _ map[string]any) (float64, error) {
				s := stripFence(c)
				if !json.Valid([]byte(s)) || (obj && !strings.HasPrefix(s, "{")) {
					return 0, nil
				}
				return 1, nil
			}}, nil
		})

	register(BuiltinInfo{Name: "repetition_penalty", Range: "-1 to 0",
		Doc:  "minus the share of repeated word n-grams: 0 for text without repeats, near -1 for a loop",
		Args: map[string]string{"ngram": "n-gram size in words (default 3)"}},
		func(a *args) (Func, error) {
			n, err := a.num("ngram", 3)
			if err != nil {
				return nil, err
			}
			if n < 1 || n > 16 || n != math.Trunc(n) {
				return nil, a.errf("argument ngram: %g must be a whole number from 1 to 16", n)
			}
			size := int(n)
			return funcOf{score: func(_, c string, _ map[string]any) (float64, error) {
				words := strings.Fields(strings.ToLower(c))
				total := len(words) - size + 1
				if total <= 1 {
					return 0, nil
				}
				seen := make(map[string]bool, total)
				for i := 0; i < total; i++ {
					seen[strings.Join(words[i:i+size], "\x00")] = true
				}
				return -(1 - float64(len(seen))/float64(total)), nil
			}}, nil
		})
}

func stripFence(c string) string {
	s := strings.TrimSpace(c)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```")
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:] // drop the language tag line
		}
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	return strings.TrimSpace(s)
}

// clip shortens s to about n bytes for messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}
