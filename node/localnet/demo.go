package localnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/scoring"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// DemoConfig configures the demo: a whole network on this machine, one
// task, its report. Each field's doc comment is its documentation and
// states its default (package config).
type DemoConfig struct {
	// Dir holds the demo's chain, database, blobs and miners; empty means a
	// new temporary directory.
	Dir string `flag:"dir"`
	// Assets is the directory of the shipped assets (models/, datasets/);
	// when it holds none, the copy inside the binary is used. Defaults to
	// `assets`.
	Assets string `flag:"assets"`
	// Model is the base model: a shipped model's name or a directory.
	// Defaults to `crucible-tiny`.
	Model string `flag:"model"`
	// Dataset is the dataset to fine-tune on; empty means the shipped facts
	// set (for grpo, the shipped arithmetic word problems).
	Dataset string `flag:"dataset"`
	// Type is the task type: instruct, chat, dpo, text or grpo (rewarded
	// by DemoRewards). Defaults to `instruct`.
	Type string `flag:"type"`
	// Budget is the training time each miner gets. Defaults to `3m`.
	Budget time.Duration `flag:"budget"`
	// Miners is how the miners share this machine: parallel (all train at
	// once, each with a share of the cores) or sequential (one after
	// another, each alone with the whole machine for the budget, as miners
	// with their own hardware; the task's window grows to fit every turn).
	// Defaults to `parallel`.
	Miners string `flag:"miners"`
	// Tournament runs a tournament instead of one task: six miners with
	// different strategies (TournamentMiners, adaptive among them), the
	// first seeded as the champion; the other five play a group stage, a
	// knockout final and a boss round (instruct, dpo, grpo) against it,
	// while a customer's task is trained by the champion.
	Tournament bool `flag:"tournament"`
	// TaskBudget is the training time of each tournament task (each
	// miner's turn with sequential miners). Defaults to `60s`.
	TaskBudget time.Duration `flag:"task-budget"`
	// Listen is the address of the validator's API. Defaults to
	// `127.0.0.1:8090`.
	Listen string `flag:"listen"`
	// Exit quits when the task is done instead of serving until Ctrl-C.
	Exit bool `flag:"exit"`
	// Prompt is the prompt of the before/after generation; empty means
	// three from the hidden test split.
	Prompt string `flag:"prompt"`
	// Verbose logs every step of every node.
	Verbose bool `flag:"verbose"`
	// MaxSteps stops each miner's training after this many optimizer
	// steps; the task is then evaluated as soon as every miner has
	// uploaded, Budget being only the deadline. 0 trains for the whole
	// budget.
	MaxSteps int `flag:"max-steps"`
}

// DefaultDemoConfig returns the documented defaults.
func DefaultDemoConfig() DemoConfig {
	var c DemoConfig
	config.Defaults(&c)
	return c
}

// DemoRewards are the rewards of the demo's grpo task on the arithmetic
// set, as the set ships them (assets.ArithmeticRewards): the right number
// (weight 1), and an answer that starts with a number (weight 0.5), a
// format the base model rarely follows.
var DemoRewards = shippedRewards(assets.ArithmeticRewards)

// shippedRewards reads a rewards file embedded in the binary.
func shippedRewards(name string) []crucible.Reward {
	b, err := fs.ReadFile(assets.FS(), name)
	if err != nil {
		panic(err) // the binary was built without its assets
	}
	var rs []crucible.Reward
	if err := json.Unmarshal(b, &rs); err != nil {
		panic(fmt.Sprintf("shipped rewards %s: %v", name, err))
	}
	return rs
}

// DemoMiners are the demo's miners' strategies: each its own edge. The
// two adaptive miners choose their recipes from what they have learned
// (their history survives in the demo's directory, so a second demo run
// on the same --dir learns from the first).
var DemoMiners = []string{"auto", "adaptive", "adaptive", "lora-quality"}

// Demo runs a complete network on loopback, submits one fine-tuning task,
// prints the task's progress, the leaderboard, before/after generations
// and where the winner is, sets weights and runs an epoch; then it serves
// until ctx ends (unless cfg.Exit).
func Demo(ctx context.Context, cfg DemoConfig, w io.Writer) error {
	typ, err := crucible.ParseTaskType(cfg.Type)
	if err != nil {
		return err
	}
	if err := CheckMinersMode(cfg.Miners); err != nil {
		return err
	}
	if cfg.Tournament {
		return demoTournament(ctx, cfg, w)
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "crucible-demo-"); err != nil {
			return err
		}
	}
	// Outside the repository, the assets come out of the binary itself.
	if st, err := os.Stat(filepath.Join(cfg.Assets, "models", "crucible-tiny", "config.json")); err != nil || st.IsDir() {
		cfg.Assets = filepath.Join(dir, "assets")
		if err := node.ExtractAssets(cfg.Assets); err != nil {
			return err
		}
	}
	models := node.NewModels(filepath.Join(cfg.Assets, "models"))
	base, err := models.ResolveModel(ctx, cfg.Model)
	if err != nil {
		return crucible.Wrap(err, crucible.ENOTFOUND, "base model %q", cfg.Model).
			WithHint("name a shipped model (crucible-tiny) or a model directory with --model")
	}
	dataset := cfg.Dataset
	if dataset == "" {
		dataset = filepath.Join(cfg.Assets, "datasets", "facts.jsonl")
		if typ == crucible.TaskGRPO {
			dataset = filepath.Join(cfg.Assets, "datasets", "arithmetic.jsonl")
		}
	}
	if _, err := os.Stat(dataset); err != nil {
		return crucible.Errorf(crucible.ENOTFOUND, "dataset %s not found", dataset).WithHint("pass a dataset file with --dataset")
	}
	level := slog.LevelError
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	say("crucible demo: a whole network on this machine (working in %s)", dir)
	var turns *miner.Turns
	if cfg.Miners == MinersSequential {
		turns = miner.NewTurns(cfg.Budget)
	}
	net, err := Start(ctx, Config{
		Dir: dir, Models: models.Assets, Miners: DemoMiners, Seed: "crucible-demo", Turns: turns,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Validator: func(c *validatornode.Config) {
			c.Listen, c.TestCap, c.OfferTimeout = cfg.Listen, 200, 10*time.Second
			if typ == crucible.TaskGRPO {
				c.TestCap = 100 // each hidden prompt is sampled twice per model: keep the evaluation short
			}
		},
		Miner: func(_ int, c *minernode.Config) {
			c.UploadMargin, c.MaxSteps = min(10*time.Second, cfg.Budget/5), cfg.MaxSteps
		},
	})
	if err != nil {
		return err
	}
	defer func() { cancel(); net.Wait() }()
	v := net.Validator
	say("  chain      local, Yuma Consensus every %d blocks", node.LocalChainParams().Tempo)
	say("  validator  %s  %s  (dashboard)", Short(v.Key().Address()), v.URL())
	for i, m := range net.Miners {
		say("  miner %d    %s  %-12s http://%s", i+1, Short(m.Key().Address()), m.Strategy().Name(), m.Addr())
	}
	if err := v.SyncMetagraph(ctx); err != nil {
		return err
	}
	window := TaskWindow(cfg.Miners, len(DemoMiners), cfg.Budget)
	if cfg.Miners == MinersSequential {
		say("  miners     sequential: each trains alone on this machine for %s, one after another (a %s window)", cfg.Budget, window.Round(time.Second))
	} else {
		say("  miners     parallel: all train at once for %s, sharing this machine's %d cores", cfg.Budget, runtime.NumCPU())
	}
	task := &crucible.Task{Type: typ, Model: cfg.Model, Dataset: dataset, HoursToComplete: window.Hours(), IsOrganic: true}
	if typ == crucible.TaskGRPO {
		task.Rewards = DemoRewards
	}
	if err := v.Submit(ctx, task); err != nil {
		return err
	}
	say("\ntask %s: fine-tune %s on %s (%s), %s of training per miner\n", task.ID, cfg.Model, filepath.Base(dataset), typ, cfg.Budget)
	start := time.Now()
	done, err := net.Follow(ctx, task.ID, func(e *crucible.TaskEvent) {
		fmt.Fprintf(w, "[%5s] %-13s %s\n", time.Since(start).Round(time.Second), net.who(e.Hotkey), eventText(e))
	})
	if err != nil {
		return err
	}
	if err := net.report(ctx, done, base, dir, cfg, w); err != nil {
		return err
	}
	if err := net.weights(ctx, w); err != nil {
		say("weights: %v", err)
	}
	if cfg.Exit {
		return nil
	}
	say("\nThe validator keeps serving at %s: the dashboard, the API (/v1/openapi.json) and the results log (/v1/results).", v.URL())
	if key := v.AdminKey(); key != "" {
		say("Log in to the dashboard with the admin API key %s", key)
	}
	say("Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// who names the node an event is about: a miner's strategy, or the
// validator.
func (n *Net) who(hotkey string) string {
	if hotkey == "" {
		return "validator"
	}
	if name := n.Names[hotkey]; name != "" {
		return name
	}
	return Short(hotkey)
}

// eventText is an event's line in the demo's log.
func eventText(e *crucible.TaskEvent) string {
	if e.Kind != crucible.EventStatus {
		return e.Message
	}
	msg := "status " + string(e.ToStatus)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Short abbreviates an SS58 address for tables.
func Short(addr string) string {
	if len(addr) <= 12 {
		return addr
	}
	return addr[:6] + "…" + addr[len(addr)-4:]
}

// weights sets the validator's weights, runs an epoch and shows what each
// miner earns.
func (n *Net) weights(ctx context.Context, w io.Writer) error {
	// A newly registered validator waits out the weights rate limit first.
	mg, err := n.Chain.Metagraph(ctx)
	if err != nil {
		return err
	}
	if at, err := mg.WeightsAllowedAt(n.Validator.Key().Address()); err == nil {
		if err := n.Chain.WaitBlock(ctx, at); err != nil {
			return err
		}
	}
	weights, err := n.Validator.Validator().SetWeights(ctx)
	if err != nil {
		return err
	}
	if len(weights) == 0 {
		fmt.Fprintln(w, "\nno weights to set: no miner earned anything")
		return nil
	}
	if err := n.Chain.RunEpoch(ctx); err != nil {
		return err
	}
	if mg, err = n.Chain.Metagraph(ctx); err != nil {
		return err
	}
	hp, err := n.Chain.Hyperparams(ctx)
	if err != nil {
		return err
	}
	// What a miner earns at its incentive: its share of the incentive and
	// dividends paid each epoch (Yuma splits an epoch's emission by them),
	// of a full tempo's emission after the owner's cut. The last epoch may
	// have paid less (it ran before a tempo's emission had accrued).
	var sumI, sumD float64
	for _, nd := range mg.Neurons {
		sumI += nd.Incentive
		sumD += nd.Dividends
	}
	perTempo := float64(hp.Tempo) * hp.EmissionPerBlock * (1 - hp.OwnerCut)
	perDay := 0.0
	if bt := n.blockTime; bt > 0 {
		perDay = float64(24*time.Hour/bt) / float64(hp.Tempo)
	}
	fmt.Fprintln(w, "\nweights set on chain, then an epoch of Yuma Consensus:")
	fmt.Fprintf(w, "  %-13s %8s %10s %14s %14s %12s\n", "miner", "weight", "incentive", "TAO per tempo", "TAO per day", "last epoch")
	wt := map[string]float64{}
	for _, x := range weights {
		wt[x.Hotkey] = x.Weight
	}
	for _, nd := range mg.Neurons {
		if name, ok := n.Names[nd.Hotkey]; ok {
			earn := 0.0
			if sumI+sumD > 0 {
				earn = nd.Incentive / (sumI + sumD) * perTempo
			}
			fmt.Fprintf(w, "  %-13s %8.3f %10.3f %14.4f %14.1f %12.4f\n", name, wt[nd.Hotkey], nd.Incentive, earn, earn*perDay, nd.Emission)
		}
	}
	fmt.Fprintf(w, "  (a tempo is %d blocks of %s here, %.0f tempos a day; %.3g TAO a block, %.1f%% to the subnet owner, the rest split\n"+
		"   between miners by incentive and validators by dividends; \"last epoch\" is what the epoch just run paid, before a tempo had accrued)\n",
		hp.Tempo, n.blockTime, perDay, hp.EmissionPerBlock, 100*hp.OwnerCut)
	if burn := wt[scoring.BurnKey]; burn > 0 {
		fmt.Fprintf(w, "  %-13s %8.3f  (burned, as the scoring spec says: this chain has no owner to burn to, so it is left off the chain)\n", "burn", burn)
	}
	return nil
}
