package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ardanlabs/jinja"
)

// Tokenizer turns text into token ids and back. Build one with Load, FromJSON
// or Train; it is immutable afterwards and safe for concurrent use.
type Tokenizer struct {
	model bpe

	// tokens holds each id's token as tokenizer.json writes it (byte-level
	// alphabet, "▁" spaces, added tokens' content); "" marks an unused id.
	tokens []string
	// raw holds each id's bytes for byte-level decoding, nil otherwise.
	raw []string

	// added finds the added tokens marked normalized false in raw text,
	// addedNorm those marked normalized true in normalised text.
	added     addedTokens
	addedNorm addedTokens
	addedIDs  map[string]int // content → id of every added token
	special   []bool         // by id: whether the id is a special added token
	normal    []normalizer
	pretok    []preTokenizer
	decoder   []decoder
	// fastDecode is set when the decoder is plain ByteLevel, so Decode can
	// concatenate raw bytes.
	fastDecode bool
	// pieces decodes SentencePiece-style models quickly, or is nil.
	pieces *pieceDecoder
	// metaWords is set when plain text may be cut into words before "▁"
	// (see metaWordsSafe).
	metaWords bool
	// plainGPT2 is set when the only pre-tokenizer is the GPT-2 pattern
	// without a prefix space, so encodeSegment can scan it inline.
	plainGPT2 bool

	template templateSpecials

	bosID, eosID, padID int
	addBOS, addEOS      bool
	chatTemplate        string
	chat                *jinja.Template
	chatErr             error

	// source keeps what Save needs to write the tokenizer back.
	source *source
}

// Load reads tokenizer.json and, when present, tokenizer_config.json from dir.
// A chat template in its own file, as recent checkpoints ship it
// (chat_template.jinja, or chat_template.json holding {"chat_template": ...}),
// takes precedence over tokenizer_config.json's, as in transformers.
func Load(dir string) (*Tokenizer, error) {
	tj, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	cj, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	t, err := FromJSON(tj, cj)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer from %s: %w", dir, err)
	}
	for _, name := range []string{"chat_template.jinja", "chat_template.json"} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load tokenizer: %w", err)
		}
		tmpl := string(b)
		if name == "chat_template.json" {
			var v struct {
				ChatTemplate *string `json:"chat_template"`
			}
			if err := json.Unmarshal(b, &v); err != nil || v.ChatTemplate == nil {
				return nil, fmt.Errorf("%s: want an object with a chat_template string", path)
			}
			tmpl = *v.ChatTemplate
		}
		t.setChatTemplate(tmpl)
		t.source.templateFile, t.source.templateData = name, b
		break
	}
	return t, nil
}

// Encode returns the ids of text. No BOS or EOS is added (see AddBOS and
// BOSID); added and special tokens written in the text, such as
// "<|im_start|>", become their own ids.
func (t *Tokenizer) Encode(text string) []int { return widen(t.encode(nil, text, true, nil)) }

// EncodeOrdinary is Encode with special tokens treated as plain text, for
// untrusted input that must not be able to forge control tokens. Added tokens
// that are not special are still recognised.
func (t *Tokenizer) EncodeOrdinary(text string) []int { return widen(t.encode(nil, text, false, nil)) }

// AppendEncode appends the ids of text, as Encode gives them, to dst: for
// callers that tokenize much text and keep ids as int32, without a
// temporary slice per call.
func (t *Tokenizer) AppendEncode(dst []int32, text string) []int32 {
	return t.encode(dst, text, true, nil)
}

// Encoder returns a function that appends the ids of text to dst, as
// AppendEncode does, with a word cache of its own (about 1.5 MB) in front
// of the shared one: faster for a goroutine that encodes much text, such
// as a tokenizing worker. The function is not safe for concurrent use;
// give each goroutine its own.
func (t *Tokenizer) Encoder() func(dst []int32, text string) []int32 {
	lc := newLocalCache()
	return func(dst []int32, text string) []int32 { return t.encode(dst, text, true, lc) }
}

func widen(ids []int32) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out
}

func (t *Tokenizer) encode(ids []int32, text string, special bool, lc *localCache) []int32 {
	// About 3.5 bytes a token in English with a small vocabulary; the
	// slice grows if need be. A caller that sized dst already (room for a
	// token every 4 bytes) keeps its slice.
	if cap(ids)-len(ids) < len(text)/4 {
		ids = slices.Grow(ids, len(text)/3+4)
	}
	t.added.split(text, special, func(seg string, id int, first bool) {
		if id >= 0 {
			ids = append(ids, int32(id))
			return
		}
		for _, n := range t.normal {
			seg = n.normalize(seg, first)
		}
		if len(t.addedNorm.list) == 0 {
			ids = t.encodeSegment(ids, seg, first, lc)
			return
		}
		t.addedNorm.split(seg, special, func(sub string, id int, subFirst bool) {
			if id >= 0 {
				ids = append(ids, int32(id))
			} else {
				ids = t.encodeSegment(ids, sub, first && subFirst, lc)
			}
		})
	})
	return ids
}

// encodeSegment appends the ids of a normalised stretch of text that holds
// no added token.
func (t *Tokenizer) encodeSegment(ids []int32, seg string, first bool, lc *localCache) []int32 {
	if seg == "" {
		return ids
	}
	if t.plainGPT2 {
		// The GPT-2 pattern alone, as byte-level models use it: scanned
		// here, without a call through the pre-tokenizer chain per piece.
		for i := 0; i < len(seg); {
			end := gpt2Match(seg, i)
			ids = t.model.encodePiece(ids, seg[i:end], lc)
			i = end
		}
		return ids
	}
	emit := func(piece string) { ids = t.model.encodePiece(ids, piece, lc) }
	if t.metaWords {
		emit = func(piece string) { ids = t.encodeMetaWords(ids, piece, lc) }
	}
	t.preTokenize(seg, 0, first, emit)
	return ids
}

// metaSpace is SentencePiece's visible space, U+2581.
const metaSpace = "\u2581"

// encodeMetaWords encodes s cut before each "▁" that follows another
// character (see metaWordsSafe).
func (t *Tokenizer) encodeMetaWords(ids []int32, s string, lc *localCache) []int32 {
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == 0xE2 && strings.HasPrefix(s[i:], metaSpace) && !strings.HasSuffix(s[start:i], metaSpace) {
			ids = t.model.encodePiece(ids, s[start:i], lc)
			start = i
			i += len(metaSpace) - 1
		}
	}
	return t.model.encodePiece(ids, s[start:], lc)
}

// preTokenize runs the pre-tokenizers from index k on s.
func (t *Tokenizer) preTokenize(s string, k int, first bool, emit func(string)) {
	if k == len(t.pretok) {
		if s != "" {
			emit(s)
		}
		return
	}
	t.pretok[k].split(s, first, func(piece string) { t.preTokenize(piece, k+1, first, emit) })
}

// Decode returns the text of ids, special tokens included. Ids outside the
// vocabulary are skipped. For byte-level models the bytes are returned as
// they are, so Decode(Encode(s)) == s for any s, even invalid UTF-8; a slice
// of ids that cuts a character in two decodes to the partial bytes.
func (t *Tokenizer) Decode(ids []int) string {
	return t.decode(ids, false)
}

// DecodeSkipSpecial is Decode without the special tokens (BOS, EOS, chat
// markers), for showing generated text.
func (t *Tokenizer) DecodeSkipSpecial(ids []int) string {
	return t.decode(ids, true)
}

func (t *Tokenizer) decode(ids []int, skipSpecial bool) string {
	if skipSpecial {
		kept := make([]int, 0, len(ids))
		for _, id := range ids {
			if uint(id) >= uint(len(t.special)) || !t.special[id] {
				kept = append(kept, id)
			}
		}
		ids = kept
	}
	if t.pieces != nil {
		return t.pieces.decode(ids)
	}
	if t.fastDecode {
		var b strings.Builder
		b.Grow(5 * len(ids)) // about 4 bytes a token in English; grows if need be
		raw := t.raw
		for _, id := range ids {
			if uint(id) < uint(len(raw)) {
				b.WriteString(raw[id])
			}
		}
		return b.String()
	}
	toks := make([]string, 0, len(ids))
	for _, id := range ids {
		if id >= 0 && id < len(t.tokens) && t.tokens[id] != "" {
			toks = append(toks, t.tokens[id])
		}
	}
	for _, d := range t.decoder {
		toks = d.decode(toks)
	}
	return strings.Join(toks, "")
}

// VocabSize returns the number of ids: one more than the largest id of the
// vocabulary and the added tokens.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of a token written as in tokenizer.json ("Ġthe",
// "▁the", "<|im_end|>").
func (t *Tokenizer) TokenID(tok string) (int, bool) {
	if id, ok := t.addedIDs[tok]; ok {
		return id, true
	}
	id, ok := t.model.vocab[tok]
	return int(id), ok
}

// Token returns the token of id as tokenizer.json writes it, or "" when the
// id is unused or out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// BOSID returns the id of the beginning-of-sequence token, or -1.
func (t *Tokenizer) BOSID() int { return t.bosID }

// EOSID returns the id of the end-of-sequence token, or -1.
func (t *Tokenizer) EOSID() int { return t.eosID }

// PadID returns the id of the padding token, or -1.
func (t *Tokenizer) PadID() int { return t.padID }

// AddBOS reports whether sequences fed to the model start with BOS, from
// tokenizer_config.json's add_bos_token or else the post-processor template.
func (t *Tokenizer) AddBOS() bool { return t.addBOS && t.bosID >= 0 }

// AddEOS reports whether the model's own processing appends EOS to every
// sequence (tokenizer_config.json add_eos_token, or the post-processor).
func (t *Tokenizer) AddEOS() bool { return t.addEOS && t.eosID >= 0 }
