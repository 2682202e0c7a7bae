package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/sign"
)

// minerNode is a running miner: its job runner and signed endpoints.
type minerNode struct {
	m   *miner.Miner
	key *sign.Keypair
	lis net.Listener
	h   http.Handler
}

// startMiner builds a miner that serves on cfg.Listen, signs its requests
// with key, and admits only validators registered on the chain with at
// least minStake.
func startMiner(cfg miner.Config, strategy miner.Strategy, key *sign.Keypair, c chain.Chain, minStake float64, log *slog.Logger) (*minerNode, error) {
	lis, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "miner cannot listen on %s: %v", cfg.Listen, err).
			WithHint("pick another address with --listen")
	}
	cfg.Listen = lis.Addr().String()
	client := &http.Client{Transport: &sign.Transport{Signer: key}}
	m, err := miner.New(cfg, strategy, client, log)
	if err != nil {
		lis.Close()
		return nil, err
	}
	m.ForValidator = sign.WithTarget
	mg := chain.NewMetagraphCache(c, 0)
	h := sign.Verify(m.Handler(func(r *http.Request) string {
		h, _ := sign.Caller(r.Context())
		return h
	}), sign.Options{Hotkey: key.Address(), Authorize: mg.Authorizer(minStake, false)})
	return &minerNode{m: m, key: key, lis: lis, h: h}, nil
}

func (n *minerNode) addr() string { return n.lis.Addr().String() }

// run trains and serves until ctx ends.
func (n *minerNode) run(ctx context.Context) error {
	errc := make(chan error, 2)
	go func() { errc <- n.m.Run(ctx) }()
	go func() { errc <- serve(ctx, n.lis, n.h) }()
	err := <-errc
	if err2 := <-errc; err == nil {
		err = err2
	}
	return err
}
