package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
	"github.com/spf13/cobra"
)

func init() { register(newValidatorCmd) }

// validatorSettings configure "crucible validator".
type validatorSettings struct {
	validator.Config
	Key          string        `flag:"key" help:"this validator's hotkey file (created when missing). Defaults to $CRUCIBLE_HOME/keys/validator.json"`
	Chain        string        `flag:"chain" help:"the chain: \"embedded\" (a local chain in this process, its state in the validator's database), a \"crucible chain\" URL, or a JSON state file for an embedded chain. Defaults to embedded"`
	Assets       string        `flag:"assets" help:"directory of shipped models, found by name. Defaults to assets/models, or the models inside this binary when there is none"`
	Poll         time.Duration `flag:"poll" help:"longest wait between two looks at a running task. Defaults to 10s"`
	Workers      int           `flag:"workers" help:"tasks advanced at the same time. Defaults to 4"`
	Stake        float64       `flag:"stake" help:"stake (TAO) added to this validator at start, on a local chain (embedded or \"crucible chain\"). Defaults to 1000"`
	WeightsEvery time.Duration `flag:"weights-every" help:"how often weights are computed and set. Defaults to 10m"`
	Verbose      bool          `flag:"verbose" help:"log every lifecycle step"`

	SyntheticEvery    time.Duration `flag:"synthetic-every" help:"how often to consider a synthetic task while no customer waits; 0 turns synthetic tasks off. Defaults to 0"`
	SyntheticModels   []string      `flag:"synthetic-models" help:"base models for synthetic tasks. Defaults to crucible-tiny"`
	SyntheticDatasets []string      `flag:"synthetic-datasets" help:"datasets for synthetic tasks (their type is detected). Defaults to the shipped ones in assets/datasets"`
	SyntheticHours    float64       `flag:"synthetic-hours" help:"time budget of synthetic tasks; 0 picks it from the dataset size. Defaults to 0"`
}

func defaultValidatorSettings() *validatorSettings {
	home := crucibleHome()
	return &validatorSettings{
		Config: validator.DefaultConfig(),
		Key:    filepath.Join(home, "keys", "validator.json"), Chain: "embedded",
		Assets: defaultAssets, Poll: 10 * time.Second, Workers: 4, Stake: 1000,
		WeightsEvery:    10 * time.Minute,
		SyntheticModels: []string{"crucible-tiny"},
	}
}

func newValidatorCmd() *cobra.Command {
	cfg := defaultValidatorSettings()
	cmd := &cobra.Command{
		Use:   "validator",
		Short: "Run a validator: take tasks, offer them to miners, evaluate, set weights",
		Long: `validator runs a crucible validator: its HTTP API (customers, miners and the
public results log), the durable task lifecycle (prepare data, offer, start,
collect, evaluate, score) and the weight setter.

By default the validator embeds a local chain, its state kept in the
validator's database (a one-validator network); with --chain set to a
"crucible chain" URL, miners, auditors and other validators join the same
network from other processes.`,
		Args: cobra.NoArgs,
	}
	return daemon(cmd, cfg, runValidator)
}

func runValidator(ctx context.Context, cfg *validatorSettings) error {
	log := newLogger(cfg.Verbose)
	key, err := loadOrCreateKey(cfg.Key)
	if err != nil {
		return fmt.Errorf("validator key: %w", err)
	}
	if cfg.Assets, err = shippedModels(cfg.Assets, filepath.Join(cfg.BlobDir, "assets")); err != nil {
		return err
	}
	parts := validatorParts{cfg: cfg.Config, key: key, models: newModelResolver(cfg.Assets),
		evaluator: engineEvaluator{}, poll: cfg.Poll, workers: cfg.Workers, minRows: cfg.Config.MinRows, log: log}
	var local *chain.Local
	if cfg.Chain == "embedded" {
		if parts.store, err = sqlstore.Open(ctx, cfg.DB); err != nil {
			return err
		}
		if local, err = embeddedChain(parts.store); err != nil {
			return err
		}
		parts.chain = local
	} else if parts.chain, local, err = openChain(cfg.Chain, key); err != nil {
		return err
	}
	ch := parts.chain
	if local != nil {
		go local.Run(ctx, time.Second)
	}
	parts.modelList = assetModels(cfg.Assets)
	n, err := startValidator(ctx, parts)
	if err != nil {
		return err
	}
	if err := joinChain(ctx, ch, key, n.lis.Addr().String(), cfg.Stake); err != nil {
		return err
	}
	if local != nil {
		if err := local.RunEpoch(ctx); err != nil { // hand out validator permits now
			return err
		}
	}
	fmt.Printf("validator %s listening on http://%s (chain %s)\n", key.Address(), n.lis.Addr(), cfg.Chain)
	if secret, err := n.bootstrapAdmin(ctx); err != nil {
		return err
	} else if secret != "" {
		fmt.Printf("admin API key (shown once; log in to the dashboard with it): %s\n", secret)
	}
	go weightsLoop(ctx, n, cfg.WeightsEvery)
	if cfg.SyntheticEvery > 0 {
		cands, err := syntheticCandidates(cfg)
		if err != nil {
			return err
		}
		go syntheticLoop(ctx, n, cands, cfg.SyntheticEvery)
	}
	return n.run(ctx)
}

// defaultAssets is the default --assets of the validator and the auditor:
// the shipped models of the repository, relative to where it runs.
var defaultAssets = filepath.Join("assets", "models")

// shippedModels returns the directory of shipped models a node offers by
// name. Run outside the repository with the default --assets, it has none
// there, so the shipped models and datasets embedded in the binary are
// extracted under work (once) and that copy is used. A directory given with
// --assets that holds no model is kept, with a warning on stderr.
func shippedModels(dir, work string) (string, error) {
	if len(assetModels(dir)) > 0 {
		return dir, nil
	}
	if filepath.Clean(dir) != defaultAssets {
		fmt.Fprintf(os.Stderr, "warning: no model directories (with config.json) under --assets %s: customers can name no shipped model\n", dir)
		return dir, nil
	}
	if !fileExists(filepath.Join(work, assets.BaseModel, "config.json")) {
		for _, a := range []string{assets.BaseModel, assets.Facts, assets.Definitions, assets.FactsDPO} {
			if _, err := assets.Extract(a, work); err != nil {
				return "", err
			}
		}
	}
	return filepath.Join(work, "models"), nil
}

// syntheticCandidates pairs the configured models with the configured (or
// shipped) datasets, detecting each dataset's task type.
func syntheticCandidates(cfg *validatorSettings) ([]validator.Synthetic, error) {
	datasets := cfg.SyntheticDatasets
	if len(datasets) == 0 {
		found, _ := filepath.Glob(filepath.Join(filepath.Dir(cfg.Assets), "datasets", "*.jsonl"))
		datasets = found
	}
	if len(datasets) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "synthetic tasks need datasets: none given and none shipped under %s", filepath.Join(filepath.Dir(cfg.Assets), "datasets"))
	}
	var out []validator.Synthetic
	for _, ds := range datasets {
		det, err := data.DetectFile(ds, 0)
		if err != nil {
			return nil, fmt.Errorf("synthetic dataset %s: %w", ds, err)
		}
		for _, m := range cfg.SyntheticModels {
			out = append(out, validator.Synthetic{Type: det.Type, Model: m, Dataset: ds, Hours: cfg.SyntheticHours})
		}
	}
	return out, nil
}

// syntheticLoop keeps miners busy with synthetic tasks while no customer
// task waits, one at a time.
func syntheticLoop(ctx context.Context, n *validatorNode, cands []validator.Synthetic, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			task, err := n.v.ScheduleSynthetic(ctx, cands, 1)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Warn("synthetic task", "err", err)
				}
				continue
			}
			if task != nil {
				n.kick(ctx, task.ID)
			}
		}
	}
}

// weightsLoop sets weights every interval.
func weightsLoop(ctx context.Context, n *validatorNode, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := n.v.SetWeights(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("set weights", "err", err)
			}
		}
	}
}

// isURL reports whether a --chain value names a remote chain.
func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }
