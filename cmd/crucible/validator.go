package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/validator"
	"github.com/spf13/cobra"
)

func init() { register(newValidatorCmd) }

// validatorSettings configure "crucible validator".
type validatorSettings struct {
	validator.Config
	Key          string        `flag:"key" help:"this validator's hotkey file (created when missing). Defaults to $CRUCIBLE_HOME/keys/validator.json"`
	Chain        string        `flag:"chain" help:"the chain: a \"crucible chain\" URL, or a state file for a chain embedded in this process. Defaults to $CRUCIBLE_HOME/chain.json"`
	Assets       string        `flag:"assets" help:"directory of shipped models, found by name. Defaults to assets/models"`
	Poll         time.Duration `flag:"poll" help:"longest wait between two looks at a running task. Defaults to 10s"`
	Workers      int           `flag:"workers" help:"tasks advanced at the same time. Defaults to 4"`
	Stake        float64       `flag:"stake" help:"on an embedded chain: stake (TAO) given to this validator at start. Defaults to 1000"`
	WeightsEvery time.Duration `flag:"weights-every" help:"how often weights are computed and set. Defaults to 10m"`
	Verbose      bool          `flag:"verbose" help:"log every lifecycle step"`
}

func defaultValidatorSettings() *validatorSettings {
	home := crucibleHome()
	return &validatorSettings{
		Config: validator.DefaultConfig(),
		Key:    filepath.Join(home, "keys", "validator.json"), Chain: filepath.Join(home, "chain.json"),
		Assets: filepath.Join("assets", "models"), Poll: 10 * time.Second, Workers: 4, Stake: 1000,
		WeightsEvery: 10 * time.Minute,
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

With --chain set to a file, the validator embeds a local chain (a
one-validator network); with a "crucible chain" URL, miners and other
validators can join the same network from other processes.`,
		Args: cobra.NoArgs,
	}
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return runValidator(cmd.Context(), cfg)
	}
	return cmd
}

func runValidator(ctx context.Context, cfg *validatorSettings) error {
	level := slog.LevelWarn
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	key, err := loadOrCreateKey(cfg.Key)
	if err != nil {
		return fmt.Errorf("validator key: %w", err)
	}
	ch, local, err := openChain(cfg.Chain, key)
	if err != nil {
		return err
	}
	if local != nil {
		go local.Run(ctx, time.Second)
	}
	n, err := startValidator(ctx, validatorParts{cfg: cfg.Config, key: key, chain: ch, models: newModelResolver(cfg.Assets),
		evaluator: engineEvaluator{}, poll: cfg.Poll, workers: cfg.Workers, minRows: cfg.Config.MinRows, log: log})
	if err != nil {
		return err
	}
	if err := joinChain(ctx, ch, key, n.lis.Addr().String(), stakeIfLocal(local != nil, cfg.Stake)); err != nil {
		return err
	}
	if local != nil {
		if err := local.RunEpoch(ctx); err != nil { // hand out validator permits now
			return err
		}
	}
	fmt.Printf("validator %s listening on http://%s (chain %s)\n", key.Address(), n.lis.Addr(), cfg.Chain)
	go weightsLoop(ctx, n, cfg.WeightsEvery)
	return n.run(ctx)
}

func stakeIfLocal(local bool, stake float64) float64 {
	if local {
		return stake
	}
	return 0
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
