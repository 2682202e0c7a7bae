package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The split patterns crucible runs on hand-written scanners, as tokenizer.json
// spells them.
const (
	patternGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	patternLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	patternQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// parsePreTokenizer returns the pre-tokenizer chain and whether it contains
// ByteLevel, which makes the model byte-level.
func parsePreTokenizer(raw json.RawMessage, field string) ([]preTokenizer, bool, error) {
	if isNull(raw) {
		return nil, false, nil
	}
	var v struct {
		Type           string            `json:"type"`
		PreTokenizers  []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Pattern        patternJSON       `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		Replacement    string            `json:"replacement"`
		PrependScheme  string            `json:"prepend_scheme"`
		Split          *bool             `json:"split"`
		Individual     bool              `json:"individual_digits"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false, fmt.Errorf("%s: %w", field, err)
	}
	switch v.Type {
	case "Sequence":
		var out []preTokenizer
		byteLevel := false
		for i, sub := range v.PreTokenizers {
			ps, bl, err := parsePreTokenizer(sub, fmt.Sprintf("%s.pretokenizers[%d]", field, i))
			if err != nil {
				return nil, false, err
			}
			out = append(out, ps...)
			byteLevel = byteLevel || bl
		}
		return out, byteLevel, nil
	case "ByteLevel":
		prefix := v.AddPrefixSpace == nil || *v.AddPrefixSpace
		if v.UseRegex == nil || *v.UseRegex {
			return []preTokenizer{gpt2Split{addPrefixSpace: prefix}}, true, nil
		}
		if prefix {
			return []preTokenizer{prefixSpace{}}, true, nil
		}
		return nil, true, nil
	case "Split":
		p, err := parseSplit(v.Pattern, v.Behavior, v.Invert, field)
		return []preTokenizer{p}, false, err
	case "Metaspace":
		m := metaspace{repl: v.Replacement, split_: v.Split == nil || *v.Split}
		if m.repl == "" {
			m.repl = "▁"
		}
		switch v.PrependScheme {
		case "always":
			m.prependAll = true
		case "first":
			m.prependFirst = true
		case "never":
		case "":
			m.prependAll = v.AddPrefixSpace == nil || *v.AddPrefixSpace
		default:
			return nil, false, fmt.Errorf("%s.prepend_scheme %q is not supported", field, v.PrependScheme)
		}
		return []preTokenizer{m}, false, nil
	case "Digits":
		return []preTokenizer{digits{individual: v.Individual}}, false, nil
	}
	return nil, false, fmt.Errorf("%s.type %q is not supported", field, v.Type)
}

func parseSplit(p patternJSON, behavior string, invert bool, field string) (preTokenizer, error) {
	b, ok := splitBehaviors[behavior]
	if !ok {
		return nil, fmt.Errorf("%s.behavior %q is not supported (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)", field, behavior)
	}
	if !invert && p.String != nil && *p.String != "" {
		switch b {
		case splitIsolated:
			return literalSplit{sep: *p.String}, nil
		case splitRemoved:
			return literalSplit{sep: *p.String, remove: true}, nil
		}
	}
	if !invert && b == splitIsolated && p.String == nil && p.Regex != nil {
		switch *p.Regex {
		case patternGPT2:
			return gpt2Split{}, nil
		case patternLlama3:
			return llama3Split{maxDigits: 3}, nil
		case patternQwen2:
			return llama3Split{maxDigits: 1}, nil
		}
	}
	m, err := newMatcher(p, field)
	if err != nil {
		return nil, err
	}
	return genericSplit{m: m, behavior: b, invert: invert}, nil
}

func parseDecoder(raw json.RawMessage, field string) ([]decoder, error) {
	if isNull(raw) {
		return nil, nil
	}
	var v struct {
		Type           string            `json:"type"`
		Decoders       []json.RawMessage `json:"decoders"`
		Pattern        patternJSON       `json:"pattern"`
		Content        string            `json:"content"`
		Start          int               `json:"start"`
		Stop           int               `json:"stop"`
		Replacement    string            `json:"replacement"`
		PrependScheme  string            `json:"prepend_scheme"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	switch v.Type {
	case "Sequence":
		var out []decoder
		for i, sub := range v.Decoders {
			ds, err := parseDecoder(sub, fmt.Sprintf("%s.decoders[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, ds...)
		}
		return out, nil
	case "ByteLevel":
		return []decoder{byteLevelDecoder{}}, nil
	case "Replace":
		if v.Pattern.String == nil {
			return nil, fmt.Errorf("%s: Replace with a Regex pattern is not supported", field)
		}
		return []decoder{replaceDecoder{*v.Pattern.String, v.Content}}, nil
	case "ByteFallback":
		return []decoder{byteFallbackDecoder{}}, nil
	case "Fuse":
		return []decoder{fuseDecoder{}}, nil
	case "Strip":
		if v.Content == "" || v.Start < 0 || v.Stop < 0 {
			return nil, fmt.Errorf("%s: Strip needs content and non-negative start and stop", field)
		}
		return []decoder{stripDecoder{v.Content, v.Start, v.Stop}}, nil
	case "Metaspace":
		d := metaspaceDecoder{repl: v.Replacement, dropFirst: true}
		if d.repl == "" {
			d.repl = "▁"
		}
		if v.PrependScheme == "never" || (v.PrependScheme == "" && v.AddPrefixSpace != nil && !*v.AddPrefixSpace) {
			d.dropFirst = false
		}
		return []decoder{d}, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported", field, v.Type)
}

// templateSpecials are the special tokens a post-processor puts before and
// after a single sequence.
type templateSpecials struct {
	before, after []string
}

func parsePostProcessor(raw json.RawMessage, field string) (templateSpecials, error) {
	var ts templateSpecials
	if isNull(raw) {
		return ts, nil
	}
	var v struct {
		Type       string            `json:"type"`
		Processors []json.RawMessage `json:"processors"`
		Single     []struct {
			SpecialToken *struct {
				ID string `json:"id"`
			} `json:"SpecialToken"`
			Sequence *struct {
				ID string `json:"id"`
			} `json:"Sequence"`
		} `json:"single"`
		CLS []any `json:"cls"`
		SEP []any `json:"sep"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return ts, fmt.Errorf("%s: %w", field, err)
	}
	switch v.Type {
	case "Sequence":
		for i, sub := range v.Processors {
			s, err := parsePostProcessor(sub, fmt.Sprintf("%s.processors[%d]", field, i))
			if err != nil {
				return ts, err
			}
			ts.before = append(ts.before, s.before...)
			ts.after = append(ts.after, s.after...)
		}
	case "TemplateProcessing":
		seen := false
		for i, item := range v.Single {
			switch {
			case item.Sequence != nil:
				seen = true
			case item.SpecialToken != nil && seen:
				ts.after = append(ts.after, item.SpecialToken.ID)
			case item.SpecialToken != nil:
				ts.before = append(ts.before, item.SpecialToken.ID)
			default:
				return ts, fmt.Errorf("%s.single[%d]: want SpecialToken or Sequence", field, i)
			}
		}
	case "RobertaProcessing", "BertProcessing":
		if len(v.CLS) != 2 || len(v.SEP) != 2 {
			return ts, fmt.Errorf("%s: cls and sep must be [token, id]", field)
		}
		cls, ok1 := v.CLS[0].(string)
		sep, ok2 := v.SEP[0].(string)
		if !ok1 || !ok2 {
			return ts, errors.New(field + ": cls and sep must be [token, id]")
		}
		ts.before, ts.after = []string{cls}, []string{sep}
	}
	// ByteLevel and other processors only touch offsets or pairs.
	return ts, nil
}
