package subtensor

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/chain/subtensor/rpc/rpctest"
)

// replayNode is an rpctest server answering with what Bittensor's main
// network answered the Bittensor SDK (the "metagraph" seed: block 6852690,
// spec 343), plus the spec 343 metadata, and storage values recorded by
// the SDK's other seeds (absent keys answer null, so items read their
// metadata default).
type replayNode struct {
	*rpctest.Server
	storage map[string]json.RawMessage // key → recorded value (JSON string or null)
}

func newReplayNode(t *testing.T) *replayNode {
	t.Helper()
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	v15, err := vectors.Read(vectors.V15Spec343)
	if err != nil {
		t.Fatal(err)
	}
	n := &replayNode{Server: rpctest.NewServer(), storage: map[string]json.RawMessage{}}
	t.Cleanup(n.Close)
	seed := rec["metagraph"]
	for method, byParams := range seed {
		for params, resp := range byParams {
			if err := n.Record(method, params, resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	var version json.RawMessage
	for _, resp := range seed["state_getRuntimeVersion"] {
		var r struct {
			Result json.RawMessage `json:"result"`
		}
		json.Unmarshal(resp, &r)
		version = r.Result
	}
	for _, s := range rec {
		for params, resp := range s["state_getStorageAt"] {
			var p []any
			var r struct {
				Result json.RawMessage `json:"result"`
			}
			if json.Unmarshal([]byte(params), &p) == nil && json.Unmarshal(resp, &r) == nil && len(p) > 0 {
				n.storage[strings.ToLower(p[0].(string))] = r.Result
			}
		}
	}
	n.Handle("state_getRuntimeVersion", func([]json.RawMessage) (any, *rpc.Error) { return version, nil })
	n.Handle("chain_getBlockHash", func(p []json.RawMessage) (any, *rpc.Error) {
		if len(p) == 1 && string(p[0]) == "0" {
			return mainnetGenesis, nil
		}
		return nil, &rpc.Error{Code: -32601, Message: "not recorded: block " + string(p[0])}
	})
	n.Handle("state_call", func(p []json.RawMessage) (any, *rpc.Error) {
		if len(p) > 0 && string(p[0]) == `"Metadata_metadata_at_version"` {
			return strings.TrimSpace(string(v15)), nil
		}
		return nil, &rpc.Error{Code: -32601, Message: "not recorded: state_call " + string(p[0])}
	})
	n.Handle("state_queryStorageAt", func(p []json.RawMessage) (any, *rpc.Error) {
		var keys []string
		var at string
		if len(p) != 2 || json.Unmarshal(p[0], &keys) != nil || json.Unmarshal(p[1], &at) != nil {
			return nil, &rpc.Error{Code: -32602, Message: "bad params"}
		}
		changes := [][2]any{}
		for _, k := range keys {
			v, ok := n.storage[strings.ToLower(k)]
			if !ok {
				v = json.RawMessage("null")
			}
			changes = append(changes, [2]any{k, v})
		}
		return []any{map[string]any{"block": at, "changes": changes}}, nil
	})
	return n
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
