package tokens

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Format and Version identify the file format in the header's metadata.
const (
	Format  = "crucible-tokens"
	Version = 1
)

// Tensor names.
const (
	TensorIDs     = "input_ids"
	TensorMask    = "loss_mask"
	TensorOffsets = "offsets"
)

// Metadata keys of the safetensors header.
const (
	metaFormat  = "format"
	metaVersion = "version"
	metaMeta    = "crucible"
)

// HeaderSize is where the data buffer starts in the files a Writer makes:
// the 8-byte length and the JSON header padded with spaces to a page, so
// that the ids are page-aligned and the header can be written last.
const HeaderSize = 64 << 10

// IgnoreIndex is the label of a token that does not count in the loss.
const IgnoreIndex = -100

// Kinds of stores.
const (
	KindSequences = "sequences" // one sequence per example
	KindPairs     = "pairs"     // preference pairs: sequence 2i chosen, 2i+1 rejected
)

// Meta is the store's description, the JSON object under the header
// metadata's "crucible" key.
type Meta struct {
	Version   int    `json:"version"`
	Kind      string `json:"kind"`
	Sequences int64  `json:"sequences"`
	Tokens    int64  `json:"tokens"`
	// Counted is the number of tokens whose mask bit is set.
	Counted int64 `json:"counted"`
	// Longest is the number of tokens of the longest sequence.
	Longest   int    `json:"longest"`
	VocabSize int    `json:"vocab_size"`
	IDType    string `json:"ids_dtype"` // "U16" or "U32"
	// SHA256 is the hex SHA-256 of the data buffer (every byte after the
	// header).
	SHA256 string `json:"sha256"`
	// Source is what the producer recorded about where the tokens come
	// from (for datasets: package data's TokenSource).
	Source json.RawMessage `json:"source,omitempty"`
}

// Pairs is the number of preference pairs of a pairs store.
func (m Meta) Pairs() int64 { return m.Sequences / 2 }

// idBytes is the size of one stored id for a vocabulary size.
func idBytes(vocab int) (int, string) {
	if vocab <= 1<<16 {
		return 2, "U16"
	}
	return 4, "U32"
}

// maskBytes is the length of the loss mask of t tokens, padded so that the
// next tensor starts 8-byte aligned in the data buffer after ids of idSize
// bytes each.
func maskBytes(t int64, idSize int) int64 {
	m := (t + 7) / 8
	end := t*int64(idSize) + m
	if r := end % 8; r != 0 {
		m += 8 - r
	}
	return m
}

func (m Meta) check() error {
	switch {
	case m.Version != Version:
		return fmt.Errorf("format version %d, this build reads version %d", m.Version, Version)
	case m.Kind != KindSequences && m.Kind != KindPairs:
		return fmt.Errorf("unknown kind %q (want %q or %q)", m.Kind, KindSequences, KindPairs)
	case m.Kind == KindPairs && m.Sequences%2 != 0:
		return fmt.Errorf("a pairs store holds %d sequences, an odd number", m.Sequences)
	case m.Sequences < 0 || m.Tokens < 0 || m.Counted < 0 || m.Counted > m.Tokens || m.Longest < 0 || int64(m.Longest) > m.Tokens:
		return errors.New("counts are inconsistent")
	case m.VocabSize <= 0 || m.VocabSize > 1<<31-1:
		return fmt.Errorf("vocabulary size %d is out of range", m.VocabSize)
	case len(m.SHA256) != 64:
		return errors.New("missing or malformed sha256")
	}
	if _, dt := idBytes(m.VocabSize); dt != m.IDType {
		return fmt.Errorf("ids are %s, but a vocabulary of %d takes %s", m.IDType, m.VocabSize, dt)
	}
	return nil
}
