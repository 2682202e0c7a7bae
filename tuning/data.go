package tuning

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/tokens"
)

// dataset is a dataset's token store, opened for one model: read by
// index as training and evaluation go, never all in memory.
type dataset struct {
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping
	Reason  string // why this type and mapping, when detected
	Rows    int64
	Stats   data.TokenizeStats
	// Store holds the tokenized examples; nil for grpo, whose prompts
	// (and the extra columns its rewards read) are held in Prompts.
	Store   *tokens.Store
	Prompts []data.GRPOPrompt
	Source  *data.TokenSource
	Cached  bool // the store was reused, not written now
	MaxLen  int  // tokens of the longest sequence kept
	// Examples is the number of sequences, of pairs for dpo, of prompts
	// for grpo.
	Examples   int
	DataSHA256 string
}

// Close releases the store.
func (d *dataset) Close() {
	if d.Store != nil {
		d.Store.Close()
	}
}

// dataSpec says which dataset to open for which model.
type dataSpec struct {
	Path     string
	Type     crucible.TaskType // empty: detected
	Mapping  *crucible.ColumnMapping
	ModelDir string // for the tokenizer files' hash
	Tok      *tokenizer.Tokenizer
	Vocab    int // the model's vocabulary: every id must be below it
	MaxLen   int
	// Tokens, when set, is a token store to use as it is (it must have been
	// written for this tokenizer and maximum length).
	Tokens   string
	Cache    data.TokenCache
	Progress func(data.TokenProgress)
}

// loadDataset opens the token store of a dataset for a model: from the
// cache when it holds one for the same data, tokenizer and settings, else
// tokenized now (streaming, in parallel) and kept there.
func loadDataset(ctx context.Context, ds dataSpec) (*dataset, error) {
	var (
		st     *tokens.Store
		src    *data.TokenSource
		cached bool
		err    error
	)
	if ds.Tokens != "" {
		if st, src, err = data.OpenTokens(ds.Tokens); err != nil {
			return nil, err
		}
		cached = true
		if err := checkTokenFile(ds, st, src); err != nil {
			st.Close()
			return nil, err
		}
	} else {
		opt, err := tokenOptions(ds)
		if err != nil {
			return nil, err
		}
		if st, src, cached, err = ds.Cache.Tokens(ctx, ds.Path, opt); err != nil {
			return nil, err
		}
	}
	d := &dataset{Type: src.TaskType, Mapping: src.Mapping, Reason: src.Reason, Rows: src.Rows, Stats: src.Stats, Store: st, Source: src, Cached: cached,
		MaxLen: st.Meta().Longest, Examples: st.Len(), DataSHA256: src.DataSHA256}
	if d.Type == crucible.TaskDPO {
		d.Examples = st.Len() / 2
	}
	return d, nil
}

// tokenOptions settles the task type and mapping of a dataset and says
// how to tokenize it for the model: the one place training, evaluation and
// crucible data tokenize agree on.
func tokenOptions(ds dataSpec) (data.TokenFileOptions, error) {
	var given crucible.ColumnMapping
	if ds.Mapping != nil {
		given = *ds.Mapping
	}
	typ, mapping, reason, err := data.Settle(ds.Path, ds.Type, given)
	if err != nil {
		return data.TokenFileOptions{}, err
	}
	opt := data.TokenFileOptions{Type: typ, Mapping: mapping, Reason: reason, Tokenizer: ds.Tok, VocabSize: ds.Vocab,
		Tokenize: data.TokenizeOptions{MaxLength: ds.MaxLen}, Progress: ds.Progress}
	if typ == crucible.TaskChat {
		// Conversations render with the model's own template; a
		// conversational dpo prompt keeps ChatML, Gradients' default.
		opt.Tokenize.ChatTemplate = data.TemplateOf(ds.Tok)
	}
	if opt.TokenizerSHA256, err = data.FilesSHA256(ds.ModelDir, tokenizerFiles); err != nil {
		return opt, crucible.Wrap(err, crucible.EINVALID, "read the tokenizer files of %s", ds.ModelDir)
	}
	return opt, nil
}

// checkTokenFile checks that a token file given as is fits the model.
func checkTokenFile(ds dataSpec, st *tokens.Store, src *data.TokenSource) error {
	m := st.Meta()
	switch {
	case m.VocabSize > ds.Vocab:
		return crucible.Errorf(crucible.EINVALID, "token file %s: ids up to %d, the model's vocabulary has %d", ds.Tokens, m.VocabSize, ds.Vocab)
	case m.Longest > ds.MaxLen+1:
		return crucible.Errorf(crucible.EINVALID, "token file %s: a sequence of %d tokens, the model takes %d", ds.Tokens, m.Longest, ds.MaxLen)
	case ds.Type != "" && src.TaskType != ds.Type:
		return crucible.Errorf(crucible.EINVALID, "token file %s holds a %s task, not %s", ds.Tokens, src.TaskType, ds.Type)
	}
	if want, err := data.FilesSHA256(ds.ModelDir, tokenizerFiles); err == nil && src.TokenizerSHA256 != "" && src.TokenizerSHA256 != want {
		return crucible.Errorf(crucible.EINVALID, "token file %s was written with another tokenizer than the model's", ds.Tokens).
			WithHint("tokenize the data with this model's tokenizer (crucible data tokenize --model ...)")
	}
	return nil
}

// maxLength is the longest sequence a model takes, capped.
func maxLength(c model.Config, cap int) int {
	return max(2, min(c.MaxPositions, cap))
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

// tokenCache is the cache of a run: the shared directory when one is
// configured (capped), else the run's work directory.
func tokenCache(dir, work string, log func(string)) data.TokenCache {
	if dir == "" {
		return data.TokenCache{Dir: filepath.Join(work, "tokens"), Log: log}
	}
	return data.TokenCache{Dir: dir, MaxBytes: data.DefaultTokenCacheBytes, Log: log}
}

// tokenProgress reports tokenization as the first 5% of a job, with a log
// line every thirty seconds.
func tokenProgress(report func(Progress), logf func(string, ...any)) func(data.TokenProgress) {
	var last time.Duration
	return func(p data.TokenProgress) {
		frac := 0.0
		if p.Total > 0 {
			frac = float64(p.Bytes) / float64(p.Total)
		}
		report(Progress{Fraction: 0.05 * frac, Message: "tokenizing: " + p.String()})
		if p.Elapsed-last >= 30*time.Second {
			last = p.Elapsed
			logf("tokenizing: %s", p)
		}
	}
}

// TokenizeSpec names a dataset to tokenize for a model (crucible data
// tokenize).
type TokenizeSpec struct {
	ModelDir string // the model whose tokenizer and context apply
	DataPath string
	TaskType crucible.TaskType // empty: detected
	Mapping  *crucible.ColumnMapping
	OutPath  string
	// MaxLength caps the tokens of a sequence; defaults to the model's
	// context, at most 1024 (what training uses by default; evaluation
	// uses up to 4096).
	MaxLength int
	Progress  func(data.TokenProgress)
}

// Tokenize writes the token store of a dataset for a model, exactly as
// training and evaluation tokenize it, to spec.OutPath (see package
// ml/tokens for the format). Errors are crucible errors: EINVALID names
// the bad row or setting.
func Tokenize(ctx context.Context, spec TokenizeSpec) (*data.TokenSource, tokens.Meta, error) {
	tok, err := tokenizer.Load(spec.ModelDir)
	if err != nil {
		return nil, tokens.Meta{}, crucible.Wrap(err, crucible.EINVALID, "tokenize: load the tokenizer")
	}
	cfg, err := model.ReadConfig(spec.ModelDir)
	if err != nil {
		return nil, tokens.Meta{}, crucible.Wrap(err, crucible.EINVALID, "tokenize: read the model's config")
	}
	capLen := spec.MaxLength
	if capLen <= 0 {
		capLen = 1024
	}
	opt, err := tokenOptions(dataSpec{Path: spec.DataPath, Type: spec.TaskType, Mapping: spec.Mapping, ModelDir: spec.ModelDir, Tok: tok, Vocab: cfg.Vocab,
		MaxLen: maxLength(cfg, capLen), Progress: spec.Progress})
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	opt.HashData = true // on a core of its own, while the rows are tokenized
	return data.WriteTokenFile(ctx, spec.DataPath, spec.OutPath, opt)
}
