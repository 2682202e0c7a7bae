// Package minernode is the miner's application layer: it opens a miner node
// from its Config (state under $CRUCIBLE_HOME and its lock, hotkey, chain,
// strategy) and runs it: the signed endpoints validators call (offers,
// start_training, task status), the job runner that downloads, trains and
// uploads, and its registration on the chain.
//
//	n, err := minernode.Open(ctx, cfg, minernode.Deps{})
//	...
//	return n.Run(ctx)
package minernode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/ratelimit"
	"github.com/crucible-net/crucible/sign"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config configures a miner node: the miner's own settings (miner.Config)
// and the node's. Each field's doc comment is its documentation and
// states its default (package config).
type Config struct {
	miner.Config

	// Home is the miner's state directory: its hotkey and work directory
	// live there unless --key or --work-dir say otherwise, and a lock in it
	// keeps a second miner off the same state. Defaults to `$CRUCIBLE_HOME`.
	Home string `flag:"home"`
	// Listen is the address the miner's signed endpoints are served on.
	// Defaults to `127.0.0.1:7999`.
	Listen string `flag:"listen"`
	// Key is the miner's hotkey file, created when missing. Defaults to
	// keys/miner.json in the state directory.
	Key string `flag:"key"`
	// Chain is the chain the network runs on: the URL of a "crucible
	// chain", or a Subtensor node (subtensor://HOST:PORT, Bittensor's
	// chain; needs NetUID). Required.
	Chain string `flag:"chain"`
	// NetUID is the Bittensor subnet crucible runs on, with a Subtensor
	// --chain.
	NetUID int `flag:"netuid"`
	// MinStake is the stake (TAO) a validator needs before this miner
	// answers it. Defaults to `1000`.
	MinStake float64 `flag:"min-validator-stake"`
	// RequirePermit makes the miner answer only validators that hold a
	// validator permit on the chain (the top validators by stake). Defaults
	// to `true`.
	RequirePermit bool `flag:"require-validator-permit"`
	// FetchFrom is where the URLs of a validator's start_training may
	// point: axon (the address the validator published on the chain, not a
	// link-local one), public (public addresses only) or any. Defaults to
	// `axon`.
	FetchFrom string `flag:"fetch-from"`
	// RatePerAddress is how many requests one address may make a minute
	// to the miner's endpoints. Defaults to `600`.
	RatePerAddress int `flag:"rate-per-address"`
	// AdaptiveHistory is the adaptive strategy's history of trials (its
	// own tasks and the recipes other miners published), kept across
	// restarts. Defaults to adaptive-history.json in the state directory.
	AdaptiveHistory string `flag:"adaptive-history"`
	// Seed seeds training. Defaults to `1`.
	Seed uint64 `flag:"seed"`
	// MaxSteps stops each training run of crucible's engine (auto, a named
	// recipe, adaptive) after this many optimizer steps, or at the deadline
	// when that comes first; 0 trains until the task's time is used. For a
	// quick trial of a miner or the demo.
	MaxSteps int `flag:"max-steps"`
	// Verbose logs every job step.
	Verbose bool `flag:"verbose"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Validate checks the settings, with the paths that default to the state
// directory filled in.
func (c *Config) Validate() error {
	r := *c
	r.resolve()
	if err := checkFetchFrom(r.FetchFrom); err != nil {
		return err
	}
	if r.RatePerAddress < 1 {
		return crucible.Errorf(crucible.EINVALID, "--rate-per-address %d: must be at least 1", r.RatePerAddress)
	}
	return r.Config.Validate()
}

// resolve fills in the paths that default to the state directory.
func (c *Config) resolve() {
	if c.Home == "" {
		c.Home = node.Home()
	}
	c.Home = node.ExpandHome(c.Home)
	if c.Key == "" {
		c.Key = filepath.Join(c.Home, "keys", "miner.json")
	}
	if c.WorkDir == "" {
		c.WorkDir = filepath.Join(c.Home, "miner")
	}
	if c.AdaptiveHistory == "" {
		c.AdaptiveHistory = filepath.Join(c.Home, "adaptive-history.json")
	}
}

// Deps are pieces a caller may hand a node instead of having Open build
// them from the Config; every nil field is built.
type Deps struct {
	Key      *sign.Keypair  // nil loads (or creates) Config.Key
	Chain    chain.Chain    // nil connects to Config.Chain
	Strategy miner.Strategy // nil builds the one Config.Strategy names (NewStrategy)
	Log      *slog.Logger   // nil logs warnings to stderr (everything with Config.Verbose)
	Out      io.Writer      // receives the address the miner serves on; nil discards it
	// Turns, when set, makes the miner take turns with the other miners
	// of this process: it trains only while it holds the machine, for the
	// turns' budget (local networks and experiments on one machine).
	Turns *miner.Turns
}

// Node is a running miner: its job runner and signed endpoints.
type Node struct {
	cfg      Config
	state    *node.State
	m        *miner.Miner
	key      *sign.Keypair
	chain    chain.Chain
	strategy miner.Strategy
	lis      net.Listener
	h        http.Handler
	nonces   *sign.ReplayCache
	log      *slog.Logger
	out      io.Writer
}

// Open opens a miner node: it takes the state's lock, loads the hotkey,
// connects to the chain, builds the strategy and listens. Nothing runs
// until Run.
func Open(ctx context.Context, cfg Config, deps Deps) (_ *Node, err error) {
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxSteps < 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "--max-steps must be ≥ 0, got %d", cfg.MaxSteps)
	}
	if deps.Chain == nil && !node.IsURL(cfg.Chain) && !node.IsSubtensor(cfg.Chain) {
		return nil, crucible.Errorf(crucible.EINVALID, "--chain must be the URL of a \"crucible chain\" or a Subtensor node subtensor://HOST:PORT (got %q)", cfg.Chain).
			WithHint("start one with \"crucible chain\" and pass --chain http://127.0.0.1:9944")
	}
	log := deps.Log
	if log == nil {
		log = node.NewLogger(cfg.Verbose)
	}
	n := &Node{cfg: cfg, out: deps.Out, key: deps.Key, chain: deps.Chain, strategy: deps.Strategy, log: log}
	if n.out == nil {
		n.out = io.Discard
	}
	if n.state, err = node.OpenState(cfg.Home, "miner"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.key == nil {
		if n.key, err = node.LoadOrCreateKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("miner key: %w", err)
		}
	}
	if n.chain == nil && node.IsSubtensor(cfg.Chain) {
		if n.chain, err = node.OpenSubtensor(ctx, cfg.Chain, cfg.NetUID, "", n.key); err != nil {
			return nil, err
		}
	}
	if n.chain == nil {
		if n.chain, _, err = node.OpenChain(cfg.Chain, n.key); err != nil {
			return nil, err
		}
	}
	switch {
	case n.strategy == nil && cfg.Strategy == "adaptive":
		if n.strategy, err = NewAdaptive(cfg.AdaptiveHistory, cfg.Seed, log); err != nil {
			return nil, err
		}
	case n.strategy == nil:
		if n.strategy, err = NewStrategy(cfg.Config, cfg.Seed, log); err != nil {
			return nil, err
		}
	}
	if n.strategy.Name() == "torch" && slices.Contains(cfg.TaskTypes, string(crucible.TaskGRPO)) {
		// crucible_torch trains on token files; grpo's sampling and rewards
		// are crucible's engine's: a torch miner does not accept grpo tasks.
		cfg.TaskTypes = slices.DeleteFunc(slices.Clone(cfg.TaskTypes), func(t string) bool { return t == string(crucible.TaskGRPO) })
		log.Info("the torch strategy does not train grpo tasks: not accepting them")
	}
	if a, ok := n.strategy.(*AdaptiveStrategy); ok {
		a.SetHotkey(n.key.Address())
	}
	if cfg.MaxSteps > 0 {
		switch s := n.strategy.(type) {
		case *tuningStrategy:
			s.recipe.MaxSteps = cfg.MaxSteps
		case *AdaptiveStrategy:
			s.maxSteps = cfg.MaxSteps
		}
	}
	if deps.Turns != nil {
		n.strategy = deps.Turns.Wrap(n.strategy)
	}
	if n.lis, err = node.Listen(cfg.Listen, "miner", "listen"); err != nil {
		return nil, err
	}
	mg := chain.NewMetagraphCache(n.chain, 5*time.Second)
	guard := &fetchGuard{policy: cfg.FetchFrom, mg: mg, resolver: net.DefaultResolver}
	client := &http.Client{Transport: &sign.Transport{Signer: n.key, Base: guard.transport()}}
	if n.m, err = miner.New(cfg.Config, n.strategy, guard.validators(protocol.HTTPValidators(client, sign.WithTarget)), log); err != nil {
		return nil, err
	}
	n.m.SetURLCheck(guard.CheckURL)
	if n.nonces, err = sign.OpenReplayCache(n.state.Path("nonces"), 0); err != nil {
		return nil, err
	}
	n.m.SetIdentity(n.key) // signs tournament entries
	n.h = sign.Verify(protocol.MinerHandler(n.m, func(r *http.Request) string {
		h, _ := sign.Caller(r.Context())
		return h
	}), sign.Options{Hotkey: n.key.Address(), Authorize: mg.Authorizer(cfg.MinStake, cfg.RequirePermit), Replay: n.nonces,
		Log: log.With("component", "node protocol")})
	n.h = ratelimit.PerAddress(n.h, ratelimit.New(max(30, cfg.RatePerAddress/10), nil), cfg.RatePerAddress, func(addr string) {
		log.Warn("rate limited", "addr", addr)
	})
	return n, nil
}

// Close releases the listener and the state of a node that was not run
// (Run releases them when it ends).
func (n *Node) Close() error { return n.close() }

// close releases the listener and the state.
func (n *Node) close() error {
	var err error
	if n.lis != nil {
		n.lis.Close()
	}
	if n.nonces != nil {
		n.nonces.Close()
	}
	if n.state != nil {
		err = n.state.Release()
	}
	return err
}

// Addr returns the address the miner serves on.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// Key returns the miner's hotkey.
func (n *Node) Key() *sign.Keypair { return n.key }

// Strategy returns the miner's training strategy.
func (n *Node) Strategy() miner.Strategy { return n.strategy }

// Adaptive returns the miner's adaptive strategy, nil when it trains
// another way.
func (n *Node) Adaptive() *AdaptiveStrategy {
	s := n.strategy
	if u, ok := s.(interface{ Unwrap() miner.Strategy }); ok {
		s = u.Unwrap()
	}
	a, _ := s.(*AdaptiveStrategy)
	return a
}

// Handler returns the miner's signed endpoints.
func (n *Node) Handler() http.Handler { return n.h }

// Miner returns the miner's job runner.
func (n *Node) Miner() *miner.Miner { return n.m }

// Join registers the miner's hotkey on the chain and publishes its address.
func (n *Node) Join(ctx context.Context) error {
	return node.JoinChainPatiently(ctx, n.chain, n.key, n.Addr(), 0, n.log)
}

// Run joins the chain, then trains and serves until ctx ends, and releases
// the state.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Join(ctx); err != nil {
		n.close()
		return err
	}
	return n.Serve(ctx)
}

// Serve trains and serves until ctx ends, and releases the state: Run for
// a miner that has joined the chain already (Join).
func (n *Node) Serve(ctx context.Context) error {
	defer n.close()
	fmt.Fprintf(n.out, "miner %s (%s) listening on http://%s\n", n.key.Address(), n.strategy.Name(), n.Addr())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- n.m.Run(ctx) }()
	go func() { errc <- node.Serve(ctx, n.lis, n.h) }()
	err := <-errc
	cancel()
	return errors.Join(err, <-errc)
}
