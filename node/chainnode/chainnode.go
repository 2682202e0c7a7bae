// Package chainnode runs "crucible chain": a local chain with Bittensor's
// rules (registration, serving, set_weights checked as Subtensor checks
// them, Yuma Consensus every tempo) served over HTTP, its state in a file.
// Reads are open; writes must be signed by the hotkey they act for.
package chainnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/sign"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config configures a chain node. Every setting not here is Subtensor's
// default (chain.DefaultHyperparams). Each field's doc comment is its
// documentation and states its default (package config).
type Config struct {
	// Listen is the address to serve the chain API on. Defaults to
	// `127.0.0.1:9944`.
	Listen string `flag:"listen"`
	// DB is the file that holds the chain's state (JSON); "" keeps it in
	// memory. Defaults to `$CRUCIBLE_HOME/chain.json`.
	DB string `flag:"db"`
	// Tempo is the number of blocks between epochs (Yuma Consensus runs).
	// Defaults to `10`.
	Tempo int64 `flag:"tempo"`
	// BlockTime is the time per block; 0 moves the clock only through POST
	// /v1/advance. Defaults to `1s`.
	BlockTime time.Duration `flag:"block-time"`
	// WeightsRateLimit is the number of blocks between two set_weights of
	// one neuron. Defaults to `5`.
	WeightsRateLimit int64 `flag:"weights-rate-limit"`
	// MinAllowedWeights is the minimum number of weights in a set_weights.
	// Defaults to `1`.
	MinAllowedWeights int `flag:"min-allowed-weights"`
	// MaxValidators is the number of validator permits (top stake). Defaults
	// to `64`.
	MaxValidators int `flag:"max-validators"`
	// MaxUIDs is the subnet's size. Defaults to `256`.
	MaxUIDs int `flag:"max-uids"`
	// ImmunityPeriod is the number of blocks a new neuron cannot be
	// replaced. Defaults to `4096`.
	ImmunityPeriod int64 `flag:"immunity-period"`
	// ActivityCutoff is the number of blocks without set_weights after which
	// a validator's stake stops counting. Defaults to `5000`.
	ActivityCutoff int64 `flag:"activity-cutoff"`
	// StakeThreshold is the stake (TAO) needed to set weights.
	StakeThreshold float64 `flag:"stake-threshold"`
	// VersionKey is the minimum version key of set_weights; 0 disables the
	// check.
	VersionKey int64 `flag:"weights-version-key"`
	// Yuma3 uses Yuma 3 bonds.
	Yuma3 bool `flag:"yuma3"`
	// EmissionPerBlock is the TAO emitted per block. Defaults to `1`.
	EmissionPerBlock float64 `flag:"emission-per-block"`
	// FixedPoint runs Yuma Consensus in Subtensor's I32F32 fixed point
	// instead of float64 (matches the chain bit for bit on classic Yuma).
	FixedPoint bool `flag:"fixed-point"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Params returns the chain's hyperparameters: Subtensor's defaults with
// this configuration applied.
func (c *Config) Params() chain.Hyperparams {
	p := chain.DefaultHyperparams()
	p.Tempo = c.Tempo
	p.WeightsRateLimit = c.WeightsRateLimit
	p.MinAllowedWeights = c.MinAllowedWeights
	p.MaxAllowedValidators = c.MaxValidators
	p.MaxAllowedUIDs = c.MaxUIDs
	p.ImmunityPeriod = c.ImmunityPeriod
	p.ActivityCutoff = c.ActivityCutoff
	p.StakeThreshold = c.StakeThreshold
	p.WeightsVersionKey = uint64(c.VersionKey)
	p.Yuma3 = c.Yuma3
	p.ServingRateLimit = 0
	p.EmissionPerBlock = c.EmissionPerBlock
	return p
}

// Validate checks the settings.
func (c *Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--listen %q: %v", c.Listen, err)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return crucible.Errorf(crucible.EINVALID, "--listen %q: port %q is not a number from 0 to 65535", c.Listen, port)
	}
	if c.BlockTime < 0 {
		return crucible.Errorf(crucible.EINVALID, "--block-time %s: must not be negative", c.BlockTime)
	}
	if c.VersionKey < 0 {
		return crucible.Errorf(crucible.EINVALID, "--weights-version-key %d: must not be negative", c.VersionKey)
	}
	if err := c.Params().Validate(); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "chain settings")
	}
	return nil
}

// Run serves the chain until ctx ends, advancing a block every BlockTime,
// and says where it serves on out.
func Run(ctx context.Context, cfg Config, out io.Writer) error {
	cfg.DB = node.ExpandHome(cfg.DB)
	l, err := chain.OpenLocal(chain.LocalOptions{Path: cfg.DB, Params: cfg.Params(), CheckAddress: node.CheckSS58, FixedPoint: cfg.FixedPoint})
	if err != nil {
		return err
	}
	replay := sign.NewReplayCache(0)
	if cfg.DB != "" {
		// Writes signed before a restart cannot be replayed after it.
		if replay, err = sign.OpenReplayCache(cfg.DB+".nonces", 0); err != nil {
			return err
		}
		defer replay.Close()
	}
	verifier := sign.NewVerifier(sign.Options{Hotkey: chain.Audience, Replay: replay})
	h := chain.NewHandler(l, chain.ServerOptions{Authenticate: verifier.Check, AllowAdvance: cfg.BlockTime == 0})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "chain: listen on %s", cfg.Listen).
			WithHint("is another chain running? pick another address with --listen")
	}
	block, _ := l.CurrentBlock(ctx)
	clock := "advanced by POST /v1/advance"
	if cfg.BlockTime > 0 {
		clock = "one block every " + cfg.BlockTime.String()
	}
	state := cfg.DB
	if state == "" {
		state = "in memory"
	}
	fmt.Fprintf(out, "chain: serving http://%s (state %s, block %d, tempo %d, %s)\n", ln.Addr(), state, block, cfg.Tempo, clock)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := node.Serve(ctx, ln, h); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("chain: serve: %w", err)
		}
	}()
	if cfg.BlockTime > 0 {
		go func() {
			if err := l.Run(ctx, cfg.BlockTime); err != nil {
				errc <- err
			}
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	<-served // shut down: requests in flight finish
	return err
}
