// Package auditornode runs "crucible auditor": it re-checks a validator from
// the outside (its results log, its weights on chain, a sample of its
// evaluations re-run with the evaluator kind the log names: crucible's
// deterministic engine, or PyTorch through crucible_torch) and, with a
// chain, sets the auditor's own weights from its own recomputation.
package auditornode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/tuning"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config configures an auditor. Each field's doc comment is its
// documentation and states its default (package config).
type Config struct {
	// Validator is the base URL of the validator to audit. Required.
	Validator string `flag:"validator"`
	// ValidatorHotkey is that validator's SS58 hotkey. Required.
	ValidatorHotkey string `flag:"validator-hotkey"`
	// Chain is the URL of the "crucible chain", or a Subtensor node
	// (subtensor://HOST:PORT with NetUID); empty skips the on-chain
	// comparison and setting weights.
	Chain string `flag:"chain"`
	// NetUID is the Bittensor subnet crucible runs on, with a Subtensor
	// --chain.
	NetUID int `flag:"netuid"`
	// APIKey is an API key of the validator (any account's): it fetches the
	// artifacts the re-evaluations need, which a validator serves only with
	// a key unless its operator made downloads public (--public-downloads).
	APIKey string `flag:"api-key"`
	// Key is the auditor's hotkey file, for setting its own weights.
	// Defaults to `$CRUCIBLE_HOME/keys/auditor.json`.
	Key string `flag:"key"`
	// Assets is the directory of shipped models, found by name; when the
	// default one holds none, the models inside the binary are used.
	// Defaults to `assets/models`.
	Assets string `flag:"assets"`
	// Sample is the number of submissions re-evaluated per audit. Defaults
	// to `3`.
	Sample int `flag:"sample"`
	// Stake is the stake (TAO) added to the auditor's hotkey at start, on a
	// local chain, so it can set weights.
	Stake float64 `flag:"stake"`
	// MinCosine is the similarity below which on-chain weights are flagged
	// against the published ones. Defaults to `0.98`.
	MinCosine float64 `flag:"min-cosine"`
	// Every audits again after this long; 0 audits once.
	Every time.Duration `flag:"every"`
	// JSON prints the report as JSON.
	JSON bool `flag:"json"`
	// Python is the Python interpreter with PyTorch that re-runs the
	// evaluations the validator logged as the torch evaluator's. Empty: the
	// first of python3 on PATH, /usr/bin/python3 and /usr/local/bin/python3
	// that imports torch; without one, crucible's engine re-runs them (the
	// two agree well within the tolerance).
	Python string `flag:"python"`
	// TorchDevice is the device of those re-runs: auto (a GPU when there is
	// one), cpu, cuda or cuda:N. Defaults to `auto`.
	TorchDevice string `flag:"torch-device"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Validate checks the settings that need no network: the validator's URL
// and hotkey, so a typo is reported as such rather than as a failed request.
func (cfg *Config) Validate() error {
	var missing []string
	if cfg.Validator == "" {
		missing = append(missing, "--validator")
	}
	if cfg.ValidatorHotkey == "" {
		missing = append(missing, "--validator-hotkey")
	}
	if len(missing) > 0 {
		verb := "are"
		if len(missing) == 1 {
			verb = "is"
		}
		return crucible.Errorf(crucible.EINVALID, "%s %s required", strings.Join(missing, " and "), verb).
			WithHint("e.g. crucible auditor --validator http://127.0.0.1:8090 --validator-hotkey 5F… (the validator prints both when it starts)")
	}
	if u, err := url.Parse(cfg.Validator); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return crucible.Errorf(crucible.EINVALID, "--validator %q is not an http(s) URL", cfg.Validator).
			WithHint("pass the validator's base URL, e.g. http://127.0.0.1:8090")
	}
	if err := node.CheckSS58(cfg.ValidatorHotkey); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--validator-hotkey %q is not an SS58 address: %v", cfg.ValidatorHotkey, err)
	}
	if cfg.Sample < 0 || cfg.Every < 0 || cfg.Stake < 0 {
		return crucible.Errorf(crucible.EINVALID, "--sample, --every and --stake must not be negative")
	}
	return nil
}

// Open builds the auditor: the validator's public log as its source, the
// engine as its evaluator, and with a chain, the on-chain comparison and its
// own weight setter (registering and staking its hotkey).
func Open(ctx context.Context, cfg Config) (*auditor.Auditor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	models, err := node.ShippedModels(cfg.Assets, filepath.Join(node.Home(), "assets"), os.Stderr)
	if err != nil {
		return nil, err
	}
	ev := &Evaluators{Python: cfg.Python, Dir: filepath.Join(node.Home(), "auditor", "torch"), Device: cfg.TorchDevice}
	deps := auditor.Deps{Source: &auditor.HTTPSource{Base: cfg.Validator, Key: cfg.APIKey}, Eval: ev,
		Models: node.NewModels(models), Verify: sign.VerifySignature}
	if cfg.Chain != "" {
		key, err := node.LoadOrCreateKey(node.ExpandHome(cfg.Key))
		if err != nil {
			return nil, err
		}
		var ch chain.Chain
		if node.IsSubtensor(cfg.Chain) {
			ch, err = node.OpenSubtensor(ctx, cfg.Chain, cfg.NetUID, filepath.Join(node.Home(), "auditor-subtensor-commits.json"), key)
		} else {
			ch, _, err = node.OpenChain(cfg.Chain, key)
		}
		if err != nil {
			return nil, err
		}
		if _, err := ch.Register(ctx, key.Address(), key.Address()); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
			return nil, fmt.Errorf("register the auditor's hotkey: %w", err)
		}
		if cfg.Stake > 0 && !node.IsSubtensor(cfg.Chain) {
			if err := ch.AddStake(ctx, key.Address(), cfg.Stake); err != nil {
				return nil, fmt.Errorf("stake: %w", err)
			}
		}
		deps.OnChain = func(ctx context.Context) (map[string]float64, error) {
			return node.WeightsOnChain(ctx, ch, cfg.ValidatorHotkey)
		}
		deps.Setter = node.ChainWeights{Chain: ch, Hotkey: key.Address()}
	}
	return auditor.New(auditor.Config{ValidatorHotkey: cfg.ValidatorHotkey, MinCosine: cfg.MinCosine, Sample: cfg.Sample,
		Seed: uint64(time.Now().UnixNano())}, deps)
}

// Run audits once, or every cfg.Every until ctx ends, handing each report
// to report. It returns ErrDiscrepancies when a single audit found any.
func Run(ctx context.Context, cfg Config, report func(*auditor.Report) error) error {
	a, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	for {
		r, err := a.Audit(ctx)
		if err != nil {
			var netErr *net.OpError
			if errors.As(err, &netErr) {
				return crucible.Wrap(err, crucible.EINTERNAL, "audit %s", cfg.Validator).
					WithHint("is the validator running there? check --validator")
			}
			return err
		}
		if err := report(r); err != nil {
			return err
		}
		if cfg.Every <= 0 {
			if !r.OK() {
				return ErrDiscrepancies
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.Every):
		}
	}
}

// ErrDiscrepancies reports that an audit found something wrong.
var ErrDiscrepancies = errors.New("the audit found discrepancies")

// Evaluators re-runs each evaluation with the kind the results log names:
// crucible's engine, or crucible_torch for the torch evaluator's losses
// (found on first use; when this machine has no Python with PyTorch, the
// engine re-runs them, which agrees with PyTorch within 1e-5 relative on
// the families both compute: the auditor still compares within
// crucible.TorchTolerance).
type Evaluators struct {
	Python, Dir, Device string

	mu     sync.Mutex
	torch  *torch.Runtime
	tried  bool
	reason string
	Log    func(string) // told once when torch re-runs fall back to the engine
}

// Evaluate implements auditor.Evaluator.
func (e *Evaluators) Evaluate(ctx context.Context, req auditor.EvalRequest) (float64, string, error) {
	if req.Evaluator != crucible.EvaluatorTorch {
		return EngineEvaluator{}.Evaluate(ctx, req)
	}
	rt := e.runtime(ctx)
	if rt == nil {
		return EngineEvaluator{}.Evaluate(ctx, req)
	}
	tmp, err := os.MkdirTemp("", "crucible-audit-tokens-")
	if err != nil {
		return 0, "", err
	}
	defer os.RemoveAll(tmp)
	tokens := filepath.Join(tmp, "test.tokens.safetensors")
	m := req.Mapping
	if _, _, err := tuning.Tokenize(ctx, tuning.TokenizeSpec{ModelDir: req.BaseDir, DataPath: req.TestPath, TaskType: req.TaskType,
		Mapping: &m, OutPath: tokens, MaxLength: tuning.EvalMaxLength}); err != nil {
		return 0, "", fmt.Errorf("tokenize the test split: %w", err)
	}
	r, err := rt.Evaluate(ctx, torch.EvalSpec{BaseDir: req.BaseDir, ModelDir: req.ModelDir, TokensPath: tokens, Device: e.Device})
	if err != nil {
		return 0, "", err
	}
	return r.Loss, r.Failure, nil
}

// Numerics implements auditor.NumericsReporter: the engine's class, which
// the auditor compares only for losses the engine logged.
func (e *Evaluators) Numerics() string { return EngineEvaluator{}.Numerics() }

// NumericsBound implements auditor.NumericsReporter.
func (e *Evaluators) NumericsBound() float64 { return EngineEvaluator{}.NumericsBound() }

// runtime finds crucible_torch's runtime once; nil when there is none.
func (e *Evaluators) runtime(ctx context.Context) *torch.Runtime {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.tried {
		e.tried = true
		rt, err := torch.Find(ctx, e.Python, e.Dir)
		if err != nil {
			e.reason = err.Error()
			if e.Log != nil {
				e.Log("torch evaluations are re-run on crucible's engine: " + e.reason)
			}
		}
		e.torch = rt
	}
	return e.torch
}

// EngineEvaluator is the auditor's metric: the validator's, on crucible's
// deterministic engine (tuning.Evaluate; tuning.EvaluateGRPO with the
// task's seed for grpo), so losses and rewards match bit for bit.
type EngineEvaluator struct{}

// Numerics implements auditor.NumericsReporter.
func (EngineEvaluator) Numerics() string { return tuning.Numerics() }

// NumericsBound implements auditor.NumericsReporter.
func (EngineEvaluator) NumericsBound() float64 { return tuning.NumericsBound }

// Evaluate implements auditor.Evaluator.
func (EngineEvaluator) Evaluate(ctx context.Context, req auditor.EvalRequest) (float64, string, error) {
	if req.TaskType == crucible.TaskGRPO {
		r, err := tuning.EvaluateGRPO(ctx, tuning.GRPOEvalSpec{BaseDir: req.BaseDir, ModelDir: req.ModelDir, TestPath: req.TestPath,
			Mapping: req.Mapping, Rewards: req.Rewards, Seed: req.Seed})
		if err != nil {
			return 0, "", err
		}
		return r.Score, r.Failure, nil
	}
	r, err := tuning.Evaluate(ctx, tuning.EvalSpec{TaskType: req.TaskType, BaseDir: req.BaseDir, ModelDir: req.ModelDir,
		TestPath: req.TestPath, Mapping: req.Mapping})
	if err != nil {
		return 0, "", err
	}
	return r.Loss, r.Failure, nil
}
