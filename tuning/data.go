package tuning

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// dataset is a dataset file read and tokenized for one model.
type dataset struct {
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping
	Reason  string // why this type and mapping, when detected
	Rows    int
	Seqs    []eval.Sequence
	Pairs   []eval.Pair
	Prompts []data.GRPOPrompt // grpo
	Stats   data.TokenizeStats
	MaxLen  int // tokens of the longest sequence kept
}

// loadDataset reads path as task type t (detected when empty) under
// mapping m (detected when nil or incomplete), then tokenizes every
// example with tok, truncating to maxLen tokens.
func loadDataset(path string, t crucible.TaskType, m *crucible.ColumnMapping, tok *tokenizer.Tokenizer, maxLen int) (*dataset, error) {
	var given crucible.ColumnMapping
	if m != nil {
		given = *m
	}
	typ, mapping, reason, err := data.Settle(path, t, given)
	if err != nil {
		return nil, err
	}
	exs, err := data.Examples(path, typ, mapping)
	if err != nil {
		return nil, err
	}
	d := &dataset{Type: typ, Mapping: mapping, Reason: reason, Rows: len(exs)}
	var kept []data.Example
	for _, ex := range exs {
		if !ex.Empty() {
			kept = append(kept, ex)
		}
	}
	if len(kept) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "%s: no usable rows: all %d rows are empty under the %s mapping", path, len(exs), typ)
	}
	opt := data.TokenizeOptions{MaxLength: maxLen}
	if typ == crucible.TaskChat {
		opt.ChatTemplate = data.TemplateOf(tok)
	}
	if typ == crucible.TaskDPO {
		var kp []data.Example
		for _, ex := range kept {
			if strings.TrimSpace(ex.Chosen) != "" && strings.TrimSpace(ex.Rejected) != "" {
				kp = append(kp, ex)
			}
		}
		pairs, st, err := data.TokenizePairs(tok, kp, opt)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "tokenize %s", path)
		}
		d.Stats = st
		for _, p := range pairs {
			d.Pairs = append(d.Pairs, eval.Pair{Chosen: seqOf(p.Chosen), Rejected: seqOf(p.Rejected)})
			d.MaxLen = max(d.MaxLen, len(p.Chosen.IDs), len(p.Rejected.IDs))
		}
		if len(d.Pairs) == 0 {
			return nil, crucible.Errorf(crucible.EINVALID, "%s: no usable preference pairs (%d rows; each needs a chosen and a rejected answer)", path, len(exs))
		}
		return d, nil
	}
	if typ == crucible.TaskText {
		opt.MaxLength = 0 // documents are cut into windows below, not truncated
	}
	seqs, st, err := data.TokenizeAll(tok, kept, opt)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tokenize %s", path)
	}
	d.Stats = st
	if typ == crucible.TaskText {
		seqs = windows(seqs, maxLen)
	}
	for _, s := range seqs {
		if len(s.IDs) < 2 {
			continue
		}
		d.Seqs = append(d.Seqs, seqOf(s))
		d.MaxLen = max(d.MaxLen, len(s.IDs))
	}
	if len(d.Seqs) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "%s: no usable rows: no example has tokens to learn after tokenization", path)
	}
	return d, nil
}

// windows cuts documents longer than n tokens into windows of n that
// overlap by one token, so that every token but the document's first is
// predicted exactly once (continued pretraining loses no text to
// truncation).
func windows(seqs []data.Sequence, n int) []data.Sequence {
	var out []data.Sequence
	for _, s := range seqs {
		if len(s.IDs) <= n {
			out = append(out, s)
			continue
		}
		for lo := 0; lo+1 < len(s.IDs); lo += n - 1 {
			hi := min(lo+n, len(s.IDs))
			out = append(out, data.Sequence{Pos: s.Pos, IDs: s.IDs[lo:hi], Labels: s.Labels[lo:hi]})
		}
	}
	return out
}

func seqOf(s data.Sequence) eval.Sequence { return eval.Sequence{IDs: s.IDs, Labels: s.Labels} }

// maxLength is the longest sequence a model takes, capped.
func maxLength(c model.Config, cap int) int {
	return max(2, min(c.MaxPositions, cap))
}

// fileSHA256 hashes a dataset: a file's bytes, or for a directory its data
// files' names and bytes in order.
func fileSHA256(path string) (string, error) {
	files := []string{path}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		fs, err := data.DataFiles(path)
		if err != nil {
			return "", err
		}
		files = fs
	}
	h := sha256.New()
	for _, f := range files {
		if len(files) > 1 {
			rel, _ := filepath.Rel(path, f)
			io.WriteString(h, rel+"\x00")
		}
		r, err := os.Open(f)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tokenizerFiles are the files of a model directory that describe its
// tokenizer and chat template, copied into every output.
var tokenizerFiles = []string{"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json", "vocab.json", "merges.txt", "tokenizer.model"}

// copyTokenizer copies the tokenizer files of src that exist into dst.
func copyTokenizer(src, dst string) error {
	for _, name := range tokenizerFiles {
		b, err := os.ReadFile(filepath.Join(src, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return fmt.Errorf("copy %s: %w", name, err)
		}
	}
	return nil
}
