package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/sign"
	"github.com/spf13/cobra"
)

// Shared wiring of the node daemons (validator, miner) and the demo.

// crucibleHome is where keys and state go by default: $CRUCIBLE_HOME, else
// ~/.crucible.
func crucibleHome() string {
	if h := os.Getenv("CRUCIBLE_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".crucible")
	}
	return ".crucible"
}

// loadOrCreateKey loads the hotkey file at path, creating a new key there
// (0600) when there is none.
func loadOrCreateKey(path string) (*sign.Keypair, error) {
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		return sign.LoadKeyFile(path)
	}
	k, _, err := sign.Generate()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if err := sign.SaveKeyFile(path, k, "", false); err != nil {
		return nil, err
	}
	return k, nil
}

// openChain returns the chain a node talks to: a "crucible chain" at an
// http(s) URL, or a local chain kept in a state file (embedded in this
// process; right for a one-validator network).
func openChain(spec string, keys ...*sign.Keypair) (chain.Chain, *chain.Local, error) {
	if u := spec; len(u) > 7 && (u[:7] == "http://" || (len(u) > 8 && u[:8] == "https://")) {
		return newChainClient(spec, keys...), nil, nil
	}
	l, err := chain.OpenLocal(chain.LocalOptions{Path: spec, Params: localChainParams(), CheckAddress: checkSS58})
	if err != nil {
		return nil, nil, err
	}
	return l, l, nil
}

// embeddedChain opens a local chain whose state lives in a validator's
// store.
func embeddedChain(store chain.StateStore) (*chain.Local, error) {
	return chain.OpenLocal(chain.LocalOptions{Store: store, Params: localChainParams(), CheckAddress: checkSS58})
}

// localChainParams are the hyperparameters of a chain embedded in a node.
func localChainParams() chain.Hyperparams {
	p := chain.DefaultHyperparams()
	p.ServingRateLimit = 0
	p.WeightsRateLimit = 5
	p.Tempo = 10
	p.MinAllowedWeights = 1 // a small local network may have a single winner
	return p
}

// joinChain registers hotkey on the chain (unless it is already), publishes
// the address it serves on, and on a local chain gives it stake.
func joinChain(ctx context.Context, c chain.Chain, k *sign.Keypair, addr string, stake float64) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	if _, err := c.Register(ctx, k.Address(), k.Address()); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
		return fmt.Errorf("register %s: %w", k.Address(), err)
	}
	if err := c.ServeAxon(ctx, k.Address(), host, port); err != nil {
		return fmt.Errorf("serve axon %s at %s: %w", k.Address(), addr, err)
	}
	if stake > 0 {
		if err := c.AddStake(ctx, k.Address(), stake); err != nil {
			return fmt.Errorf("add stake: %w", err)
		}
	}
	return nil
}

// modelResolver finds models by name: a shipped asset (a directory under
// the assets' models folder), a path, or a Hugging Face id in the local
// cache.
type modelResolver struct {
	assets string // directory holding model directories by name; may be ""
	hub    hub.Resolver
}

func newModelResolver(assets string) *modelResolver {
	return &modelResolver{assets: assets, hub: hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}}
}

func (m *modelResolver) ResolveModel(_ context.Context, name string) (string, error) {
	if m.assets != "" && filepath.Base(name) == name {
		dir := filepath.Join(m.assets, name)
		if st, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && !st.IsDir() {
			return dir, nil
		}
	}
	return m.hub.Resolve(name)
}

// serve runs an HTTP server on l until ctx ends, then shuts it down.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}

// newLogger logs warnings and errors to stderr, or everything with verbose.
func newLogger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// daemon binds cfg's flags to cmd and runs run with the loaded settings.
func daemon[C any](cmd *cobra.Command, cfg *C, run func(ctx context.Context, cfg *C) error) *cobra.Command {
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return run(cmd.Context(), cfg)
	}
	return cmd
}
