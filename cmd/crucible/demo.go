package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

// demoSettings configure "crucible demo".
type demoSettings struct {
	Dir     string        `flag:"dir" help:"directory for the demo's chain, database, blobs and miners. Defaults to a new temporary directory"`
	Assets  string        `flag:"assets" help:"directory of the shipped assets (models/, datasets/). Defaults to assets, or the copy inside this binary when there is none"`
	Model   string        `flag:"model" help:"base model: a shipped model's name or a directory. Defaults to crucible-tiny"`
	Dataset string        `flag:"dataset" help:"dataset to fine-tune on. Defaults to the shipped facts set"`
	Type    string        `flag:"type" help:"task type: instruct, chat, dpo or text. Defaults to instruct"`
	Budget  time.Duration `flag:"budget" help:"training time each miner gets. Defaults to 3m"`
	Listen  string        `flag:"listen" help:"address of the validator's API. Defaults to 127.0.0.1:8090"`
	Exit    bool          `flag:"exit" help:"quit when the task is done instead of serving until Ctrl-C"`
	Prompt  string        `flag:"prompt" help:"prompt for the before/after generation. Defaults to one from the dataset"`
	Verbose bool          `flag:"verbose" help:"log every step of every node"`
}

// demoMiners are the four miners' strategies: each its own edge.
var demoMiners = []string{"auto", "lora-fast", "lora-quality", "full"}

func newDemoCmd() *cobra.Command {
	cfg := &demoSettings{Assets: "assets", Model: "crucible-tiny", Type: "instruct", Budget: 3 * time.Minute, Listen: "127.0.0.1:8090"}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole network on this machine: chain, validator, 4 miners and a task",
		Long: `demo runs a complete crucible network in this process, on loopback: a local
chain with Yuma Consensus, a validator with its API, and four miners with
different strategies (auto, lora-fast, lora-quality, full). It submits a
fine-tuning task on the shipped base model and facts dataset, shows each
miner's progress, evaluates every submission on the hidden test split,
prints the leaderboard, a before/after generation and where the winner is,
sets weights and runs an epoch. Then it keeps serving until Ctrl-C (--exit
to quit at once).`,
		Example: `  crucible demo
  crucible demo --budget 1m --exit`,
		Args: cobra.NoArgs,
	}
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return runDemo(cmd.Context(), cfg, cmd.OutOrStdout())
	}
	return cmd
}

func runDemo(ctx context.Context, cfg *demoSettings, w io.Writer) error {
	typ, err := crucible.ParseTaskType(cfg.Type)
	if err != nil {
		return err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "crucible-demo-"); err != nil {
			return err
		}
	}
	// Outside the repository, the assets come out of the binary itself.
	if !fileExists(filepath.Join(cfg.Assets, "models", "crucible-tiny", "config.json")) {
		extracted := filepath.Join(dir, "assets")
		for _, a := range []string{assets.BaseModel, assets.Facts, assets.Definitions, assets.FactsDPO} {
			if _, err := assets.Extract(a, extracted); err != nil {
				return err
			}
		}
		cfg.Assets = extracted
	}
	models := newModelResolver(filepath.Join(cfg.Assets, "models"))
	base, err := models.ResolveModel(ctx, cfg.Model)
	if err != nil {
		return crucible.Wrap(err, crucible.ENOTFOUND, "base model %q", cfg.Model).
			WithHint("name a shipped model (crucible-tiny) or a model directory with --model")
	}
	dataset := cfg.Dataset
	if dataset == "" {
		dataset = filepath.Join(cfg.Assets, "datasets", "facts.jsonl")
	}
	if _, err := os.Stat(dataset); err != nil {
		return crucible.Errorf(crucible.ENOTFOUND, "dataset %s not found", dataset).
			WithHint("pass a dataset file with --dataset")
	}
	level := slog.LevelError
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	say("crucible demo: a whole network on this machine (working in %s)", dir)

	// The validator's store, which also keeps the embedded chain's state.
	vcfg := validator.DefaultConfig()
	vcfg.Listen, vcfg.DB, vcfg.BlobDir = cfg.Listen, filepath.Join(dir, "validator.db"), filepath.Join(dir, "blobs")
	vcfg.TestCap, vcfg.OfferTimeout = 200, 10*time.Second
	store, err := sqlstore.Open(ctx, vcfg.DB)
	if err != nil {
		return err
	}
	// The chain: embedded, with fast blocks.
	vkey, _ := sign.FromURI("//crucible-demo//validator")
	local, err := embeddedChain(store)
	if err != nil {
		return err
	}
	var ch chain.Chain = local
	go local.Run(ctx, 200*time.Millisecond)

	// The validator.
	vn, err := startValidator(ctx, validatorParts{cfg: vcfg, key: vkey, chain: ch, models: models, store: store,
		evaluator: engineEvaluator{}, poll: time.Second, workers: 2, minRows: vcfg.MinRows, log: log,
		modelList: assetModels(filepath.Join(cfg.Assets, "models"))})
	if err != nil {
		return err
	}
	if err := joinChain(ctx, ch, vkey, vn.lis.Addr().String(), 1000); err != nil {
		return err
	}
	say("  chain      local, Yuma Consensus every %d blocks", 10)
	say("  validator  %s  http://%s  (dashboard)", short(vkey.Address()), vn.lis.Addr())
	adminKey, err := vn.bootstrapAdmin(ctx)
	if err != nil {
		return err
	}

	// Four miners, each with its own strategy.
	names := map[string]string{}
	for i, strat := range demoMiners {
		key, _ := sign.FromURI(fmt.Sprintf("//crucible-demo//miner-%d", i+1))
		mcfg := miner.DefaultConfig()
		mcfg.Listen, mcfg.WorkDir, mcfg.Strategy = "127.0.0.1:0", filepath.Join(dir, "miners", strat), strat
		mcfg.MinHours, mcfg.UploadMargin = 0, min(10*time.Second, cfg.Budget/5)
		s, err := newStrategy(mcfg, uint64(i+1), log)
		if err != nil {
			return err
		}
		mn, err := startMiner(mcfg, s, key, ch, 0, log)
		if err != nil {
			return err
		}
		if err := joinChain(ctx, ch, key, mn.addr(), 0); err != nil {
			return err
		}
		names[key.Address()] = strat
		say("  miner %d    %s  %-12s http://%s", i+1, short(key.Address()), strat, mn.addr())
		go mn.run(ctx)
	}
	if err := local.RunEpoch(ctx); err != nil { // validator permits
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- vn.run(ctx) }()

	// The task.
	task := &crucible.Task{Type: typ, Model: cfg.Model, Dataset: dataset, HoursToComplete: cfg.Budget.Hours(), IsOrganic: true}
	if err := vn.syncMetagraph(ctx); err != nil {
		return err
	}
	if err := vn.submit(ctx, task); err != nil {
		return err
	}
	say("\ntask %s: fine-tune %s on %s (%s), %s of training per miner\n", task.ID, cfg.Model, filepath.Base(dataset), typ, cfg.Budget)
	done, err := followTask(ctx, vn, task.ID, names, w, errc)
	if err != nil {
		return err
	}
	if err := demoReport(ctx, vn, done, base, dir, names, cfg, w); err != nil {
		return err
	}
	if err := demoWeights(ctx, vn, local, ch, names, w); err != nil {
		say("weights: %v", err)
	}
	if cfg.Exit {
		return nil
	}
	say("\nThe validator keeps serving at http://%s: the dashboard, the API (/v1/openapi.json) and the results log (/v1/results).", vn.lis.Addr())
	if adminKey != "" {
		say("Log in to the dashboard with the admin API key %s", adminKey)
	}
	say("Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// short abbreviates an SS58 address for tables.
func short(addr string) string {
	if len(addr) <= 12 {
		return addr
	}
	return addr[:6] + "…" + addr[len(addr)-4:]
}

// followTask prints the task's events as they come until it ends.
func followTask(ctx context.Context, vn *validatorNode, id string, names map[string]string, w io.Writer, errc <-chan error) (*crucible.Task, error) {
	start := time.Now()
	var after int64
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		events, err := vn.store.FindEvents(ctx, crucible.EventFilter{TaskID: id, AfterID: after})
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			after = e.ID
			who := "validator"
			if e.Hotkey != "" {
				who = names[e.Hotkey]
				if who == "" {
					who = short(e.Hotkey)
				}
			}
			msg := e.Message
			if e.Kind == crucible.EventStatus {
				msg = "status " + string(e.ToStatus)
				if e.Message != "" {
					msg += ": " + e.Message
				}
			}
			fmt.Fprintf(w, "[%5s] %-13s %s\n", time.Since(start).Round(time.Second), who, msg)
		}
		t, err := vn.store.FindTask(ctx, id)
		if err != nil {
			return nil, err
		}
		if t.Status.Terminal() {
			return t, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-errc:
			return nil, fmt.Errorf("validator stopped: %w", err)
		case <-tick.C:
		}
	}
}

// demoWeights sets the validator's weights, runs an epoch and shows what
// each miner earns.
func demoWeights(ctx context.Context, vn *validatorNode, local *chain.Local, ch chain.Chain, names map[string]string, w io.Writer) error {
	// A newly registered validator waits out the weights rate limit first.
	mg, err := ch.Metagraph(ctx)
	if err != nil {
		return err
	}
	if at, err := mg.WeightsAllowedAt(vn.key.Address()); err == nil {
		if err := local.WaitBlock(ctx, at); err != nil {
			return err
		}
	}
	weights, err := vn.v.SetWeights(ctx)
	if err != nil {
		return err
	}
	if len(weights) == 0 {
		fmt.Fprintln(w, "\nno weights to set: no miner earned anything")
		return nil
	}
	if err := local.RunEpoch(ctx); err != nil {
		return err
	}
	mg, err = ch.Metagraph(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nweights set on chain, then an epoch of Yuma Consensus:")
	fmt.Fprintf(w, "  %-13s %8s %10s %10s\n", "miner", "weight", "incentive", "emission")
	wt := map[string]float64{}
	for _, x := range weights {
		wt[x.Hotkey] = x.Weight
	}
	for _, n := range mg.Neurons {
		if name, ok := names[n.Hotkey]; ok {
			fmt.Fprintf(w, "  %-13s %8.3f %10.3f %10.4f\n", name, wt[n.Hotkey], n.Incentive, n.Emission)
		}
	}
	return nil
}
