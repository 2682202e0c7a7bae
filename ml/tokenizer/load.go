package tokenizer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// source keeps the files a Tokenizer was built from, so that Save can write
// them back unchanged.
type source struct {
	tokenizerJSON []byte
	configJSON    []byte
	config        map[string]json.RawMessage
	// templateFile and templateData are the separate chat template file the
	// tokenizer was loaded with (chat_template.jinja or chat_template.json),
	// if any.
	templateFile string
	templateData []byte
}

type fileJSON struct {
	Version       string          `json:"version"`
	AddedTokens   []addedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Model         *modelJSON      `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   vocabMap        `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

// FromJSON builds a Tokenizer from the contents of tokenizer.json and of
// tokenizer_config.json (nil or empty when the model has none).
func FromJSON(tokenizerJSON, configJSON []byte) (*Tokenizer, error) {
	// Kept for Save; copied so that the caller may reuse its buffers.
	src := &source{tokenizerJSON: bytes.Clone(tokenizerJSON), configJSON: bytes.Clone(configJSON)}
	var f fileJSON
	if err := json.Unmarshal(tokenizerJSON, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if f.Model == nil {
		return nil, errors.New("tokenizer.json: model: missing")
	}
	if len(bytes.TrimSpace(configJSON)) > 0 {
		if err := json.Unmarshal(configJSON, &src.config); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
	}
	t := &Tokenizer{source: src, bosID: -1, eosID: -1, padID: -1}
	if err := t.build(&f, f.Model); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if err := t.applyConfig(); err != nil {
		return nil, fmt.Errorf("tokenizer_config.json: %w", err)
	}
	return t, nil
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

func (t *Tokenizer) build(f *fileJSON, m *modelJSON) error {
	if m.Type != "BPE" && m.Type != "" {
		return fmt.Errorf("model.type %q is not supported (only BPE)", m.Type)
	}
	if m.Vocab == nil {
		return errors.New("model.vocab: missing")
	}
	if p := m.ContinuingSubwordPrefix; p != nil && *p != "" {
		return fmt.Errorf("model.continuing_subword_prefix %q is not supported", *p)
	}
	if p := m.EndOfWordSuffix; p != nil && *p != "" {
		return fmt.Errorf("model.end_of_word_suffix %q is not supported", *p)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return fmt.Errorf("model.dropout %v is not supported (encoding must be deterministic)", *m.Dropout)
	}

	var err error
	if t.normal, err = parseNormalizer(f.Normalizer, "normalizer"); err != nil {
		return err
	}
	byteLevel := false
	if t.pretok, byteLevel, err = parsePreTokenizer(f.PreTokenizer, "pre_tokenizer"); err != nil {
		return err
	}
	if t.decoder, err = parseDecoder(f.Decoder, "decoder"); err != nil {
		return err
	}
	if err := t.buildModel(m, f.AddedTokens, byteLevel); err != nil {
		return err
	}
	t.metaWords = !byteLevel && metaWordsSafe(t.model.vocab)
	if len(t.pretok) == 1 {
		g, ok := t.pretok[0].(gpt2Split)
		t.plainGPT2 = ok && !g.addPrefixSpace && !t.metaWords
	}
	t.pieces = newPieceDecoder(t.decoder, t.tokens)
	if len(t.decoder) == 1 && byteLevel {
		_, t.fastDecode = t.decoder[0].(byteLevelDecoder)
	}
	return t.parsePostProcessor(f.PostProcessor)
}

// maxID bounds token ids, far above any real vocabulary (a few hundred
// thousand), so that a corrupt file cannot make the id table huge.
const maxID = 1 << 22

// buildModel fills the vocabulary, id table, merges and added tokens.
func (t *Tokenizer) buildModel(m *modelJSON, added []addedToken, byteLevel bool) error {
	size := 0
	for tok, id := range m.Vocab {
		if id < 0 || id >= maxID {
			return fmt.Errorf("model.vocab: token %q has an id outside [0, %d)", tok, maxID)
		}
		size = max(size, int(id)+1)
	}
	for i, a := range added {
		if a.ID < 0 || a.ID >= maxID {
			return fmt.Errorf("added_tokens[%d]: id %d is outside [0, %d)", i, a.ID, maxID)
		}
		if a.Content == "" {
			return fmt.Errorf("added_tokens[%d]: empty content", i)
		}
		size = max(size, a.ID+1)
	}
	t.tokens = make([]string, size)
	model := &t.model
	model.byteLevel = byteLevel
	model.vocab = m.Vocab
	for tok, id := range m.Vocab {
		if t.tokens[id] != "" {
			return fmt.Errorf("model.vocab: id %d is used by both %q and %q", id, t.tokens[id], tok)
		}
		t.tokens[id] = tok
	}
	t.special = make([]bool, size)
	for _, a := range added {
		t.tokens[a.ID] = a.Content
		t.special[a.ID] = a.Special
	}
	t.addedIDs = make(map[string]int, len(added))
	var raw, normalized []addedToken
	for _, a := range added {
		t.addedIDs[a.Content] = a.ID
		if !a.Normalized {
			raw = append(raw, a)
			continue
		}
		// Normalised tokens are found in normalised text, so they are
		// matched in their normalised form.
		for _, n := range t.normal {
			a.Content = n.normalize(a.Content, false)
		}
		if a.Content != "" {
			normalized = append(normalized, a)
		}
	}
	t.added = newAddedTokens(raw)
	t.addedNorm = newAddedTokens(normalized)

	for b := range model.byteIDs {
		model.byteIDs[b] = -1
	}
	model.wholeVocab = model.vocab
	if byteLevel {
		for b := 0; b < 256; b++ {
			id, ok := model.vocab[string(byteToRune[b])]
			if !ok {
				return fmt.Errorf("model.vocab: byte-level token %q (byte 0x%02X) is missing", string(byteToRune[b]), b)
			}
			model.byteIDs[b] = id
		}
		t.raw = make([]string, size)
		if m.IgnoreMerges {
			model.wholeVocab = make(map[string]int32, len(m.Vocab))
		}
		for id, tok := range t.tokens {
			raw, ok := byteLevelDecode(tok)
			if !ok {
				t.raw[id] = tok // not made of bytes: kept for decoding only
				continue
			}
			t.raw[id] = raw
			if m.IgnoreMerges && tok != "" {
				model.wholeVocab[raw] = int32(id)
			}
		}
		for _, a := range added {
			t.raw[a.ID] = a.Content
		}
	} else if m.ByteFallback {
		for b := 0; b < 256; b++ {
			if id, ok := model.vocab[fmt.Sprintf("<0x%02X>", b)]; ok {
				model.byteIDs[b] = id
			}
		}
	}
	model.byteFallback = m.ByteFallback
	model.fuseUnk = m.FuseUnk
	model.ignoreMerges = m.IgnoreMerges
	model.unkID = -1
	if m.UnkToken != nil && *m.UnkToken != "" {
		id, ok := m.Vocab[*m.UnkToken]
		if !ok {
			return fmt.Errorf("model.unk_token %q is not in model.vocab", *m.UnkToken)
		}
		model.unkID = id
	}
	return t.parseMerges(m)
}

// parseMerges reads model.merges in either format: "a b" strings or
// ["a", "b"] pairs.
func (t *Tokenizer) parseMerges(m *modelJSON) error {
	model := &t.model
	var pairs [][2]string
	if !isNull(m.Merges) {
		strs, fastPairs, ok := scanMerges(m.Merges)
		if ok {
			pairs = fastPairs
		} else {
			// Not the common shapes: let encoding/json decode or explain.
			strs = nil
			if err := json.Unmarshal(m.Merges, &strs); err != nil {
				if err := json.Unmarshal(m.Merges, &pairs); err != nil {
					return fmt.Errorf("model.merges: want a list of \"a b\" strings or [a, b] pairs: %w", err)
				}
			}
		}
		if strs != nil {
			pairs = make([][2]string, len(strs))
			for i, s := range strs {
				a, b, ok := strings.Cut(s, " ")
				if !ok || a == "" || b == "" || strings.Contains(b, " ") {
					return fmt.Errorf("model.merges[%d]: %q is not two tokens separated by one space", i, s)
				}
				pairs[i] = [2]string{a, b}
			}
		}
	}
	model.merges = make(map[uint64]merge, len(pairs))
	var buf []byte
	for i, p := range pairs {
		a, okA := m.Vocab[p[0]]
		b, okB := m.Vocab[p[1]]
		buf = append(append(buf[:0], p[0]...), p[1]...)
		c, okC := m.Vocab[string(buf)]
		switch {
		case !okA:
			return fmt.Errorf("model.merges[%d]: %q is not in model.vocab", i, p[0])
		case !okB:
			return fmt.Errorf("model.merges[%d]: %q is not in model.vocab", i, p[1])
		case !okC:
			return fmt.Errorf("model.merges[%d]: merged token %q is not in model.vocab", i, p[0]+p[1])
		}
		key := pairKey(a, b)
		if _, dup := model.merges[key]; !dup {
			model.merges[key] = merge{rank: int32(i), id: c}
		}
	}
	return nil
}

type typed struct {
	Type string `json:"type"`
}

type patternJSON struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

func parseNormalizer(raw json.RawMessage, field string) ([]normalizer, error) {
	if isNull(raw) {
		return nil, nil
	}
	var v struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
		Prepend     string            `json:"prepend"`
		Pattern     patternJSON       `json:"pattern"`
		Content     string            `json:"content"`
		Left        bool              `json:"left"`
		Right       bool              `json:"right"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	switch v.Type {
	case "Sequence":
		var out []normalizer
		for i, sub := range v.Normalizers {
			ns, err := parseNormalizer(sub, fmt.Sprintf("%s.normalizers[%d]", field, i))
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		return out, nil
	case "NFC":
		return []normalizer{unicodeNorm{norm.NFC}}, nil
	case "NFD":
		return []normalizer{unicodeNorm{norm.NFD}}, nil
	case "NFKC":
		return []normalizer{unicodeNorm{norm.NFKC}}, nil
	case "NFKD":
		return []normalizer{unicodeNorm{norm.NFKD}}, nil
	case "Lowercase":
		return []normalizer{lowercase{}}, nil
	case "Prepend":
		return []normalizer{prepend{v.Prepend}}, nil
	case "Strip":
		return []normalizer{strip{v.Left, v.Right}}, nil
	case "Replace":
		if v.Pattern.String == nil {
			return nil, fmt.Errorf("%s: Replace with a Regex pattern is not supported", field)
		}
		return []normalizer{replace{*v.Pattern.String, v.Content}}, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported", field, v.Type)
}

// metaWordsSafe reports whether text can be cut before each "▁" that follows
// another character without changing what BPE makes of it: true when "▁" is
// a token and no token holds "▁" after any other character, so that no merge
// can span such a cut. SentencePiece-style vocabularies (Llama 2, Mistral)
// are like this; cutting turns one long word into many short, cacheable ones.
func metaWordsSafe(vocab map[string]int32) bool {
	if _, ok := vocab[metaSpace]; !ok {
		return false
	}
	for tok := range vocab {
		if strings.Contains(strings.TrimLeft(tok, metaSpace), metaSpace) {
			return false
		}
	}
	return true
}
