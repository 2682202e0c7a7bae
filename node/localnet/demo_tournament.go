package localnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/scoring"
)

// demoTournament runs the tournament demo: the network of TournamentMiners,
// the first seeded as the champion, a tournament the others enter, a
// customer's task routed to the champion meanwhile; then the bracket, the
// customer's result, the champions' history and the weights.
func demoTournament(ctx context.Context, cfg DemoConfig, w io.Writer) error {
	dir := cfg.Dir
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "crucible-demo-"); err != nil {
			return err
		}
	}
	if st, err := os.Stat(filepath.Join(cfg.Assets, "models", "crucible-tiny", "config.json")); err != nil || st.IsDir() {
		cfg.Assets = filepath.Join(dir, "assets")
		if err := node.ExtractAssets(cfg.Assets); err != nil {
			return err
		}
	}
	models := node.NewModels(filepath.Join(cfg.Assets, "models"))
	if _, err := models.ResolveModel(ctx, cfg.Model); err != nil {
		return crucible.Wrap(err, crucible.ENOTFOUND, "base model %q", cfg.Model).
			WithHint("name a shipped model (crucible-tiny) or a model directory with --model")
	}
	// Slices of the shipped sets keep each task's data preparation and
	// tokenizing short, so that the budget goes to training.
	data := filepath.Join(dir, "datasets")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	var sets [3]string
	for i, c := range []struct {
		name string
		rows int
	}{{assets.Facts, 600}, {assets.FactsDPO, 400}, {assets.Arithmetic, 300}} {
		if sets[i], err = SampleDataset(data, c.name, c.rows); err != nil {
			return err
		}
	}
	dataset := cfg.Dataset
	if dataset == "" {
		dataset = sets[0]
	}
	level := slog.LevelError
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	// With sequential miners every miner waits for its turn on the
	// machine: a task's window fits the turns of every miner, since the
	// matches of a round and the customer's task run at once.
	var turns *miner.Turns
	window := TaskWindow(cfg.Miners, len(TournamentMiners), cfg.TaskBudget)
	if cfg.Miners == MinersSequential {
		turns = miner.NewTurns(cfg.TaskBudget)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	say("crucible demo --tournament: a whole network on this machine (working in %s)", dir)
	net, err := Start(ctx, Config{
		Dir: dir, Models: models.Assets, Miners: TournamentMiners, Seed: "crucible-demo", Turns: turns,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Validator: func(c *validatornode.Config) {
			// Each hidden grpo prompt is sampled twice per model: a small
			// test split keeps the evaluations short.
			c.Listen, c.TestCap, c.OfferTimeout = cfg.Listen, 100, 10*time.Second
		},
		Miner: func(_ int, c *minernode.Config) { c.UploadMargin = min(10*time.Second, cfg.TaskBudget/5) },
	})
	if err != nil {
		return err
	}
	defer func() { cancel(); net.Wait() }()
	v := net.Validator
	say("  chain      local, Yuma Consensus every %d blocks", node.LocalChainParams().Tempo)
	say("  validator  %s  %s  (dashboard: /tournaments)", Short(v.Key().Address()), v.URL())
	for i, m := range net.Miners {
		say("  miner %d    %s  %-12s method %s", i+1, Short(m.Key().Address()), m.Strategy().Name(), m.Miner().Method())
	}
	if turns != nil {
		say("  miners     sequential: each trains alone on this machine for %s of each task, one after another (a %s window per task)", cfg.TaskBudget, window.Round(time.Second))
	} else {
		say("  miners     parallel: the miners of a round train at once for %s of each task, sharing this machine's %d cores (GOMAXPROCS %d)", cfg.TaskBudget, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	}
	if err := v.SyncMetagraph(ctx); err != nil {
		return err
	}
	champ, err := net.SeedChampion(ctx, 0)
	if err != nil {
		return err
	}
	say("\nseeded champion: %s (%s)", net.who(champ.Hotkey), champ.Method)
	start := time.Now()
	tour, err := v.Announce(ctx, TournamentSettings(cfg.Model, window, sets[0], sets[1], sets[2]))
	if err != nil {
		return err
	}
	say("tournament %s: entries open for %s; each task %s of training\n", tour.ID, tour.Settings.EntryWindow, cfg.TaskBudget)
	// A customer's task meanwhile: trained by the champion, who plays no
	// round before the boss round.
	task := &crucible.Task{Type: crucible.TaskInstruct, Model: cfg.Model, Dataset: dataset, HoursToComplete: window.Hours(), IsOrganic: true}
	if err := v.Submit(ctx, task); err != nil {
		return err
	}
	say("[%5s] customer   task %s goes to %s: %s", time.Since(start).Round(time.Second), task.ID, task.Competition, net.Named(fmt.Sprint(task.Assignees)))
	organicDone := false
	done, err := net.FollowTournament(ctx, tour.ID, func(e *crucible.TournamentEvent) {
		say("[%5s] %-10s %s", time.Since(start).Round(time.Second), e.Kind, net.Named(e.Message))
		if !organicDone {
			if t, err := v.Store().FindTask(ctx, task.ID); err == nil && t.Status.Terminal() {
				organicDone = true
				say("[%5s] customer   task %s: %s", time.Since(start).Round(time.Second), task.ID, t.Status)
			}
		}
	})
	if err != nil {
		return err
	}
	say("\nbracket (test loss, lower is better; grpo: reward, higher is better)")
	if err := net.PrintBracket(ctx, done, w); err != nil {
		return err
	}
	organic, err := net.Follow(ctx, task.ID, nil)
	if err != nil {
		return err
	}
	if err := net.organicReport(ctx, organic, w); err != nil {
		return err
	}
	if err := net.championHistory(ctx, w); err != nil {
		return err
	}
	if err := net.weights(ctx, w); err != nil {
		say("weights: %v", err)
	}
	say("\ntournament played in %s", time.Since(start).Round(time.Second))
	if cfg.Exit {
		return nil
	}
	say("\nThe validator keeps serving at %s: the dashboard (/tournaments), the API (/v1/tournaments) and the results log (/v1/results).", v.URL())
	if key := v.AdminKey(); key != "" {
		say("Log in to the dashboard with the admin API key %s", key)
	}
	say("Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}

// organicReport shows who trained the customer's task and its result
// against the base model.
func (n *Net) organicReport(ctx context.Context, t *crucible.Task, w io.Writer) error {
	store := n.Validator.Store()
	fmt.Fprintf(w, "\ncustomer task %s (%s, trained by %s):\n", t.ID, t.Competition, n.Named(fmt.Sprint(t.Assignees)))
	subs, err := store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	rec, err := store.FindEvaluation(ctx, t.ID)
	if err != nil && crucible.ErrorCode(err) != crucible.ENOTFOUND {
		return err
	}
	for _, s := range subs {
		switch {
		case s.TestLoss != nil && rec != nil && rec.BaseLoss != nil:
			fmt.Fprintf(w, "  %s: test loss %.4f on %d hidden rows vs the base model's %.4f (%+.1f%%)\n", n.who(s.Hotkey), *s.TestLoss,
				t.TestRows, *rec.BaseLoss, 100*(*s.TestLoss-*rec.BaseLoss) / *rec.BaseLoss)
		case s.Failure != "":
			fmt.Fprintf(w, "  %s: failed: %s\n", n.who(s.Hotkey), s.Failure)
		}
	}
	if t.Status != crucible.StatusSuccess {
		fmt.Fprintf(w, "  the task ended %s: %s\n", t.Status, t.Failure)
	}
	return nil
}

// championHistory prints the champions, newest first.
func (n *Net) championHistory(ctx context.Context, w io.Writer) error {
	cs, err := n.Validator.Store().FindChampions(ctx, 10)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nchampions (newest first):")
	for _, c := range cs {
		how := "seeded"
		if !c.Seeded {
			how = "tournament " + c.TournamentID
		}
		margin := ""
		if c.Margin != nil {
			margin = fmt.Sprintf(", won by %.1f%%", 100**c.Margin)
		}
		fmt.Fprintf(w, "  %-12s %s, %d win(s) in a row%s (%s)\n", n.who(c.Hotkey), c.Method, c.Wins, margin, how)
	}
	share := scoring.Default().Tournament.ChampionShare(cs[0].Margin, cs[0].Wins)
	fmt.Fprintf(w, "  the champion's pool: %.1f%% of the weights (base %.0f%%, boosted by its margin)\n", 100*share, 100*scoring.Default().Tournament.BaseShare)
	return nil
}
