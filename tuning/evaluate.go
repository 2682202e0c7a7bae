package tuning

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// EvalSpec names what to evaluate (the fields of validator.EvalRequest).
type EvalSpec struct {
	TaskType crucible.TaskType
	BaseDir  string // the base model
	// ModelDir is the submission: a full model or a PEFT adapter
	// directory; empty evaluates the base itself.
	ModelDir string
	TestPath string                 // the test split
	Mapping  crucible.ColumnMapping // how to read TestPath; zero: detected
	Progress func(done, total int)  // optional
	// MaxLength caps the tokens of a test sequence; defaults to the
	// base's context, at most 4096.
	MaxLength int
	// Beta is DPO's temperature; defaults to 0.1.
	Beta float64
	// TokenCache is a directory where the test split's tokens are kept
	// and reused by the next evaluation of the same split (see
	// data.TokenCache); empty tokenizes into a temporary directory.
	TokenCache string
	// TokensPath, when set, is the test split's token store, evaluated as
	// it is (written for the base's tokenizer; see crucible data tokenize).
	TokensPath string
}

// EvalResult is one evaluation's outcome (the fields of
// validator.EvalResult, and more). A submission that is not a valid
// fine-tune of the base has Failure set and no meaningful Loss.
type EvalResult struct {
	// Loss is the metric: the token-weighted mean cross-entropy over
	// response tokens, or for DPO the DPO loss against the base.
	Loss      float64 `json:"loss"`
	Tokens    int     `json:"tokens"`  // scored tokens
	Samples   int     `json:"samples"` // sequences (pairs for DPO)
	Failure   string  `json:"failure,omitempty"`
	IsAdapter bool    `json:"is_adapter"`
	// Fingerprint is a fixed random projection of the weight delta from
	// the base (merged for adapters), for near-duplicate detection.
	Fingerprint []float32 `json:"fingerprint,omitempty"`

	SampleMean     float64 `json:"sample_mean,omitempty"` // mean of per-sample mean losses
	Perplexity     float64 `json:"perplexity,omitempty"`
	RewardAccuracy float64 `json:"reward_accuracy,omitempty"` // DPO
	Margin         float64 `json:"reward_margin,omitempty"`   // DPO
}

// EvalMaxLength caps the tokens of a test sequence (and of the token files
// a validator writes for its splits): the base's context, at most this.
const EvalMaxLength = 4096

// Failure messages of submissions that are not valid fine-tunes.
const (
	FailArchitecture = "architecture differs from the base model"
	FailIdentical    = "not a fine-tune: weights equal the base"
	FailAdapter      = "adapter does not fit the base model"
	FailNaN          = "loss is not a finite number"
	FailUnreadable   = "submission cannot be read"
)

// Numerics is the arithmetic class of this machine's evaluation
// (eval.Numerics): the same class gives bit-identical losses, different
// classes agree within NumericsBound.
func Numerics() string { return eval.Numerics() }

// NumericsBound is eval.NumericsBound.
const NumericsBound = eval.NumericsBound

// Evaluate computes the validator's metric for spec.ModelDir over the test
// split, with the base's tokenizer. It is deterministic: the same inputs
// give bit-identical results on the same machine and thread count.
// Problems with the submission give a result with Failure set; errors are
// for the base model, the test split or cancellation.
func Evaluate(ctx context.Context, spec EvalSpec) (*EvalResult, error) {
	tok, err := tokenizer.Load(spec.BaseDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "evaluate: load the base tokenizer")
	}
	base, err := model.Load(spec.BaseDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "evaluate: load the base model")
	}
	capLen := spec.MaxLength
	if capLen <= 0 {
		capLen = EvalMaxLength
	}
	var mapping *crucible.ColumnMapping
	if spec.Mapping != (crucible.ColumnMapping{}) {
		mapping = &spec.Mapping
	}
	cacheDir := spec.TokenCache
	if cacheDir == "" && spec.TokensPath == "" {
		tmp, err := os.MkdirTemp("", "crucible-eval-tokens-")
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "evaluate: temporary directory")
		}
		defer os.RemoveAll(tmp)
		cacheDir = tmp
	}
	ds, err := loadDataset(ctx, dataSpec{Path: spec.TestPath, Type: spec.TaskType, Mapping: mapping, ModelDir: spec.BaseDir, Tok: tok, Vocab: base.Config().Vocab,
		MaxLen: maxLength(base.Config(), capLen), Tokens: spec.TokensPath, Cache: data.TokenCache{Dir: cacheDir, MaxBytes: data.DefaultTokenCacheBytes}})
	if err != nil {
		return nil, err
	}
	defer ds.Close()
	beta := spec.Beta
	if beta <= 0 {
		beta = eval.DefaultBeta
	}
	opts := eval.Options{}
	dpo := ds.Type == crucible.TaskDPO
	res := &EvalResult{}
	var ref eval.LogProbs
	if dpo {
		if ref, err = eval.PairLogProbsOf(ctx, base, ds.Store, opts); err != nil {
			return nil, fmt.Errorf("evaluate: base log-probabilities: %w", err)
		}
	}
	policy := base
	if spec.ModelDir != "" {
		var failure string
		policy, failure, err = loadSubmission(base, spec.ModelDir, res)
		if err != nil {
			return nil, err
		}
		if failure != "" {
			res.Failure = failure
			return res, nil
		}
	}
	if spec.Progress != nil {
		opts.Progress = spec.Progress
	}
	if dpo {
		pol, err := eval.PairLogProbsOf(ctx, policy, ds.Store, opts)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		r, err := eval.DPO(pol, ref, beta)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		res.Loss, res.RewardAccuracy, res.Margin, res.Samples = r.Loss, r.Accuracy, r.Margin, r.Pairs
		for i := range ds.Store.Len() {
			res.Tokens += ds.Store.Counted(i)
		}
	} else {
		r, err := eval.LossOf(ctx, policy, ds.Store, opts)
		if err != nil {
			return nil, fmt.Errorf("evaluate: %w", err)
		}
		res.Loss, res.SampleMean, res.Perplexity, res.Tokens, res.Samples = r.Loss, r.SampleMean, r.Perplexity, r.Tokens, r.Samples
	}
	if math.IsNaN(res.Loss) || math.IsInf(res.Loss, 0) {
		res.Failure = fmt.Sprintf("%s (%v)", FailNaN, res.Loss)
	}
	return res, nil
}

// loadSubmission reads a submission against the base: an adapter is
// merged into the base's weights, a full model must have the base's
// architecture. It sets res.IsAdapter and res.Fingerprint, and returns
// the model to evaluate or a failure.
func loadSubmission(base *model.Model, dir string, res *EvalResult) (*model.Model, string, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Sprintf("%s: %s is not a directory", FailUnreadable, filepath.Base(dir)), nil
	}
	if _, err := os.Stat(filepath.Join(dir, model.AdapterConfigFile)); err == nil {
		res.IsAdapter = true
		orig := slices.Clone(base.Params())
		if err := base.LoadAdapter(dir); err != nil {
			return nil, fmt.Sprintf("%s: %v", FailAdapter, err), nil
		}
		if err := base.MergeLoRA(); err != nil {
			return nil, "", fmt.Errorf("evaluate: merge adapter: %w", err)
		}
		delta := subtract(base.Params(), orig)
		if allZero(delta) {
			return nil, FailIdentical, nil
		}
		res.Fingerprint = Fingerprint(delta)
		return base, "", nil
	}
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", FailUnreadable, err), nil
	}
	if diff := ArchitectureDiff(base.Config(), cfg); diff != "" {
		return nil, FailArchitecture + ": " + diff, nil
	}
	sub, err := model.Load(dir)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", FailUnreadable, err), nil
	}
	delta := subtract(sub.Params(), base.Params())
	if allZero(delta) {
		return nil, FailIdentical, nil
	}
	res.Fingerprint = Fingerprint(delta)
	return sub, "", nil
}

// ArchitectureDiff lists the config fields in which sub differs from base
// (architectures, model type, hidden size, layers, heads, kv heads, head
// dim, intermediate size, vocabulary, tied embeddings, and any other field
// that changes the computation, such as a sliding window or the experts),
// or "".
func ArchitectureDiff(base, sub model.Config) string {
	var d []string
	add := func(name string, a, b any) {
		if a != b {
			d = append(d, fmt.Sprintf("%s %v, base %v", name, b, a))
		}
	}
	add("architectures", base.Architecture, sub.Architecture)
	add("model_type", base.ModelType, sub.ModelType)
	add("hidden_size", base.Hidden, sub.Hidden)
	add("num_hidden_layers", base.Layers, sub.Layers)
	add("num_attention_heads", base.Heads, sub.Heads)
	add("num_key_value_heads", base.KVHeads, sub.KVHeads)
	add("head_dim", base.HeadDim, sub.HeadDim)
	add("intermediate_size", base.Intermediate, sub.Intermediate)
	add("vocab_size", base.Vocab, sub.Vocab)
	add("tie_word_embeddings", base.TieEmbeddings, sub.TieEmbeddings)
	if len(d) == 0 && !model.SameComputation(base, sub) {
		d = append(d, "the computation differs (rotary embeddings, attention windows, norms, soft caps, experts or biases)")
	}
	return strings.Join(d, "; ")
}

func subtract(a, b []float32) []float32 {
	out := make([]float32, len(a))
	for i := range a {
		out[i] = a[i] - b[i]
	}
	return out
}

func allZero(x []float32) bool {
	for _, v := range x {
		if v != 0 {
			return false
		}
	}
	return true
}

// EngineVersion identifies crucible's engine as an evaluator: the build's
// commit, the architecture and the matrix-multiply kernel it runs (the
// engine's losses are bit-identical on re-runs with these and the same
// thread count).
func EngineVersion() string {
	rev := "unknown commit"
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" && v != "(devel)" {
			rev = v
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = "commit " + s.Value[:12]
			}
		}
	}
	variants := kernel.Variants()
	k := "go"
	if len(variants) > 0 {
		k = variants[0]
	}
	return fmt.Sprintf("crucible %s, %s/%s, gemm %s, %d threads", rev, runtime.GOOS, runtime.GOARCH, k, runtime.GOMAXPROCS(0))
}
