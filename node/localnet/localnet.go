// Package localnet runs a whole crucible network in one process, on
// loopback: a local chain with Yuma Consensus embedded in the validator, a
// validator node and miner nodes, each with its own state directory. The
// demo runs on it, and so do the tests that need a real network (the
// dashboard in a browser, S3 blobs end to end, the node protocol).
//
//	net, err := localnet.Start(ctx, localnet.Config{Dir: dir, Miners: []string{"auto", "full"}})
//	...
//	err = net.Validator.Submit(ctx, task)
//	done, err := net.Follow(ctx, task.ID, print)
package localnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/validator"
)

// Config configures a local network.
type Config struct {
	// Dir holds the network's state: the validator's home (validator/) and
	// each miner's (miners/STRATEGY).
	Dir string
	// Models is the directory of models the validator offers by name.
	Models string
	// Miners are the strategies of the miners, one miner each.
	Miners []string
	// Seed names the network's keys (//Seed//validator, //Seed//miner-N),
	// so that a network restarted on the same Dir keeps them. Defaults to
	// "crucible-localnet".
	Seed string
	// BlockTime is the chain's time per block. Defaults to 200ms.
	BlockTime time.Duration
	// Validator adjusts the validator's configuration (its defaults here:
	// listen on a free port, blobs and database in Dir, 2 workers, polls
	// every second).
	Validator func(*validatornode.Config)
	// Miner adjusts miner i's configuration (its defaults here: listen on a
	// free port, accept any budget, keep a fifth of the budget, at most 10
	// s, for the upload).
	Miner func(i int, c *minernode.Config)
	// Log receives every node's log; nil discards it.
	Log *slog.Logger
	// Strategy, when set, gives miner i its strategy (Miners then only
	// names them); nil builds the one Miners names.
	Strategy func(i int) miner.Strategy
	// Evaluator, when set, is the validator's evaluator; nil is crucible's
	// engine.
	Evaluator validator.Evaluator
	// RateClock, when set, is the clock the validator's rate limits
	// refill by (validatornode.Deps.RateClock).
	RateClock func() time.Time
	// Turns, when set, makes the miners train one after another, each
	// alone on the machine for Turns.Budget (MinersSequential); nil lets
	// them train at once (MinersParallel).
	Turns *miner.Turns
}

// How the miners of a local network share its machine.
const (
	// MinersParallel: every miner trains at once, each with a share of the
	// cores (as many miners on one machine would).
	MinersParallel = "parallel"
	// MinersSequential: miners train one after another, each alone with
	// the whole machine for the same budget (as miners with their own
	// hardware would, one machine standing in for each).
	MinersSequential = "sequential"
)

// CheckMinersMode checks a --miners value.
func CheckMinersMode(mode string) error {
	if mode != MinersParallel && mode != MinersSequential {
		return crucible.Errorf(crucible.EINVALID, "--miners %q: want %s or %s", mode, MinersParallel, MinersSequential)
	}
	return nil
}

// TaskWindow is the training window a task needs for each of n miners to
// get budget: the budget itself when they train at once; when they take
// turns, n budgets and the time around them (downloads before the first,
// the last upload).
func TaskWindow(mode string, n int, budget time.Duration) time.Duration {
	if mode != MinersSequential {
		return budget
	}
	return time.Duration(n)*(budget+5*time.Second) + 30*time.Second
}

// Net is a running local network.
type Net struct {
	Validator *validatornode.Node
	Miners    []*minernode.Node
	Chain     *chain.Local
	// Names maps each miner's hotkey to its strategy (numbered, as in
	// "adaptive-2", when several miners share one).
	Names map[string]string

	blockTime time.Duration // the chain's time per block
	done      chan error
}

// Start opens the validator (its embedded chain keeps its state in the
// validator's database) and the miners, registers them all on the chain,
// runs an epoch (validator permits), and runs every node until ctx ends;
// Wait then waits for them to stop.
func Start(ctx context.Context, cfg Config) (_ *Net, err error) {
	if cfg.Seed == "" {
		cfg.Seed = "crucible-localnet"
	}
	if cfg.BlockTime <= 0 {
		cfg.BlockTime = 200 * time.Millisecond
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	vkey, err := sign.FromURI("//" + cfg.Seed + "//validator")
	if err != nil {
		return nil, err
	}
	vcfg := validatornode.DefaultConfig()
	vcfg.Home, vcfg.Listen, vcfg.Chain, vcfg.BlockTime = filepath.Join(cfg.Dir, "validator"), "127.0.0.1:0", "embedded", cfg.BlockTime
	vcfg.Assets, vcfg.Workers, vcfg.Poll = cfg.Models, 2, time.Second
	vcfg.WeightsEvery = 0 // weights are set when asked (SetWeights)
	if cfg.Validator != nil {
		cfg.Validator(&vcfg)
	}
	models := node.NewModels(vcfg.Assets)
	v, err := validatornode.Open(ctx, vcfg, validatornode.Deps{Key: vkey, Models: models, ModelList: models.Names(), Evaluator: cfg.Evaluator, Log: log, RateClock: cfg.RateClock})
	if err != nil {
		return nil, err
	}
	n := &Net{Validator: v, Names: map[string]string{}, blockTime: cfg.BlockTime, done: make(chan error, 1+len(cfg.Miners))}
	_, n.Chain = v.Chain()
	var opened []*minernode.Node
	defer func() {
		if err != nil {
			for _, m := range opened {
				m.Close()
			}
			v.Close()
		}
	}()
	for i, strat := range cfg.Miners {
		key, err := sign.FromURI(fmt.Sprintf("//%s//miner-%d", cfg.Seed, i+1))
		if err != nil {
			return nil, err
		}
		mcfg := minernode.DefaultConfig()
		mcfg.Home, mcfg.Listen, mcfg.Strategy, mcfg.Seed = filepath.Join(cfg.Dir, "miners", fmt.Sprintf("%d-%s", i+1, strat)), "127.0.0.1:0", strat, uint64(i+1)
		mcfg.MinHours, mcfg.UploadMargin = 0, 10*time.Second
		if cfg.Miner != nil {
			cfg.Miner(i, &mcfg)
		}
		var strategy miner.Strategy
		if cfg.Strategy != nil {
			strategy = cfg.Strategy(i)
		}
		m, err := minernode.Open(ctx, mcfg, minernode.Deps{Key: key, Chain: n.Chain, Strategy: strategy, Log: log, Turns: cfg.Turns})
		if err != nil {
			return nil, err
		}
		opened = append(opened, m)
		if err := m.Join(ctx); err != nil {
			return nil, err
		}
		n.Miners = append(n.Miners, m)
		n.Names[key.Address()] = minerName(cfg.Miners, i)
	}
	if err := v.Start(ctx); err != nil {
		return nil, err
	}
	go func() { n.done <- v.Wait() }()
	for _, m := range n.Miners {
		go func() { n.done <- m.Serve(ctx) }() // joined above
	}
	return n, nil
}

// minerName is how the network names miner i: its strategy, numbered
// when another miner has the same one.
func minerName(strategies []string, i int) string {
	for j, s := range strategies {
		if j != i && s == strategies[i] {
			return fmt.Sprintf("%s-%d", strategies[i], i+1)
		}
	}
	return strategies[i]
}

// Wait waits for every node to stop (after Start's ctx ended) and returns
// their errors.
func (n *Net) Wait() error {
	var errs []error
	for range 1 + len(n.Miners) {
		errs = append(errs, <-n.done)
	}
	return errors.Join(errs...)
}

// Follow calls show with each of a task's events as they are recorded
// (polling the store) until the task ends, and returns it.
func (n *Net) Follow(ctx context.Context, taskID string, show func(*crucible.TaskEvent)) (*crucible.Task, error) {
	store := n.Validator.Store()
	return follow(ctx,
		func(ctx context.Context) (*crucible.Task, bool, error) {
			t, err := store.FindTask(ctx, taskID)
			return t, err == nil && t.Status.Terminal(), err
		},
		func(ctx context.Context, after int64) ([]*crucible.TaskEvent, error) {
			return store.FindEvents(ctx, crucible.EventFilter{TaskID: taskID, AfterID: after})
		},
		func(e *crucible.TaskEvent) int64 { return e.ID }, show)
}

// follow polls a subject (a task, a tournament) and its events, calling
// show with each new event, until the subject has ended; it returns the
// subject as it ended. The subject is read before its events: once it is
// over, the events read after it include the last ones.
func follow[T, E any](ctx context.Context, read func(context.Context) (T, bool, error),
	events func(ctx context.Context, after int64) ([]E, error), idOf func(E) int64, show func(E)) (T, error) {
	var after int64
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for {
		subject, ended, err := read(ctx)
		if err != nil {
			var zero T
			return zero, err
		}
		evs, err := events(ctx, after)
		if err != nil {
			var zero T
			return zero, err
		}
		for _, e := range evs {
			after = idOf(e)
			if show != nil {
				show(e)
			}
		}
		if ended {
			return subject, nil
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-tick.C:
		}
	}
}
