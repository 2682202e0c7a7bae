package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/chain/subtensor/rpc/rpctest"
)

// A recorded main-network answer (chain_getBlockHash of block 6553223, as
// the Bittensor SDK recorded it) comes back through both transports.
func TestCallReplaysRecordedResponse(t *testing.T) {
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	srv := rpctest.NewServer()
	defer srv.Close()
	for params, resp := range rec["blocks_since_last_update"]["chain_getBlockHash"] {
		if err := srv.Record("chain_getBlockHash", params, resp); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, url := range []string{srv.WSURL(), srv.HTTPURL()} {
		c, err := rpc.Dial(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := c.Call(ctx, &hash, "chain_getBlockHash", 6553223); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if hash != "0x2830271e820b419253b79cbafea83f726354bbef26eb318835ffa774288de9ff" {
			t.Errorf("%s: hash %s", url, hash)
		}
		// A request the server has no answer for is an *rpc.Error.
		err = c.Call(ctx, &hash, "chain_getBlockHash", 1)
		var re *rpc.Error
		if !errors.As(err, &re) || re.Code != -32601 {
			t.Errorf("%s: unknown request: %v", url, err)
		}
		c.Close()
	}
}

func TestSubscription(t *testing.T) {
	srv := rpctest.NewServer()
	defer srv.Close()
	srv.HandleSubscription("author_submitAndWatchExtrinsic", "author_extrinsicUpdate", func(p []json.RawMessage) ([]any, *rpc.Error) {
		return []any{"ready", map[string]string{"inBlock": "0x01"}}, nil
	})
	srv.Handle("author_unwatchExtrinsic", func([]json.RawMessage) (any, *rpc.Error) { return true, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, srv.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, "author_submitAndWatchExtrinsic", "author_unwatchExtrinsic", "0x00")
	if err != nil {
		t.Fatal(err)
	}
	first, err := sub.Next(ctx)
	if err != nil || string(first) != `"ready"` {
		t.Fatalf("first %s %v", first, err)
	}
	second, err := sub.Next(ctx)
	if err != nil || !strings.Contains(string(second), "inBlock") {
		t.Fatalf("second %s %v", second, err)
	}
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	// HTTP has no subscriptions.
	h, _ := rpc.Dial(ctx, srv.HTTPURL())
	if _, err := h.Subscribe(ctx, "author_submitAndWatchExtrinsic", "", "0x00"); err == nil {
		t.Error("subscription over HTTP")
	}
}

func TestDialRejectsOtherSchemes(t *testing.T) {
	if _, err := rpc.Dial(context.Background(), "subtensor://x:1"); err == nil || !strings.Contains(err.Error(), "ws://") {
		t.Errorf("err %v", err)
	}
}

// When the connection goes away, a waiting call fails instead of hanging.
func TestCallFailsWhenConnectionCloses(t *testing.T) {
	srv := rpctest.NewServer()
	defer srv.Close()
	block := make(chan struct{})
	defer close(block)
	srv.Handle("slow", func([]json.RawMessage) (any, *rpc.Error) { <-block; return 1, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, srv.WSURL())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, nil, "slow") }()
	for len(srv.Calls()) == 0 {
		if ctx.Err() != nil {
			t.Fatal("call never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	go c.Close()
	if err := <-done; !errors.Is(err, rpc.ErrClosed) {
		t.Errorf("pending call: %v", err)
	}
}
