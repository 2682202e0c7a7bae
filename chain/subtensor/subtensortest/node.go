// Package subtensortest is a simulated Subtensor node for tests: an
// in-process JSON-RPC server that answers reads with what Bittensor's main
// network answered the Bittensor SDK (block 6,852,690, spec 343: the
// metagraph of netuid 1, runtime version, metadata), serves storage values a
// test sets (absent keys answer null, so items read their metadata
// default), and takes extrinsics into a block whose events the test
// chooses. Nothing in it checks signatures or runs the runtime: tests assert
// on what was submitted.
package subtensortest

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/chain/subtensor/metadata"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/chain/subtensor/rpc/rpctest"
)

// Facts of the recorded main-network block the node answers for.
const (
	MainnetGenesis = "0x2f0555cc76fc2840a25a6ea3b9637146806f1f44b090c175ffde2a7e5ab36c03"
	BlockHash      = "0xdb13c066e2c63969f140164fb3bfe7a0aaa7b71407fc0fe525d68e57329ef9d0"
	BlockNumber    = 6852690
	// InclusionBlock is the hash of the block submitted extrinsics land in.
	InclusionBlock = "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// Node is a simulated Subtensor node.
type Node struct {
	*rpctest.Server
	// MD is the node's runtime metadata (spec 343).
	MD *metadata.Metadata

	mu        sync.Mutex
	storage   map[string]json.RawMessage // key (lower-case hex) → JSON string or null
	submitted [][]byte
	outcome   func(xt []byte) (events []byte, poolErr *rpc.Error)
}

// New starts a node; it stops when the test ends. Extrinsics succeed
// (ExtrinsicSuccess) unless SetOutcome says otherwise; the account nonce is
// always 5.
func New(t testing.TB) *Node {
	t.Helper()
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	v15, err := vectors.Read(vectors.V15Spec343)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := vectors.DecodeHex(strings.TrimSpace(string(v15)))
	if err != nil {
		t.Fatal(err)
	}
	md, err := metadata.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Server: rpctest.NewServer(), MD: md, storage: map[string]json.RawMessage{}}
	t.Cleanup(n.Close)
	n.outcome = func([]byte) ([]byte, *rpc.Error) { return n.Events(t, 1, "ExtrinsicSuccess", nil), nil }
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
			return MainnetGenesis, nil
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
		n.mu.Lock()
		for _, k := range keys {
			v, ok := n.storage[strings.ToLower(k)]
			if !ok {
				v = json.RawMessage("null")
			}
			changes = append(changes, [2]any{k, v})
		}
		n.mu.Unlock()
		return []any{map[string]any{"block": at, "changes": changes}}, nil
	})
	n.Handle("system_accountNextIndex", func([]json.RawMessage) (any, *rpc.Error) { return 5, nil })
	n.Handle("chain_getFinalizedHead", func([]json.RawMessage) (any, *rpc.Error) { return BlockHash, nil })
	n.HandleSubscription("author_submitAndWatchExtrinsic", "author_extrinsicUpdate", func(p []json.RawMessage) ([]any, *rpc.Error) {
		var h string
		json.Unmarshal(p[0], &h)
		xt, err := vectors.DecodeHex(h)
		if err != nil {
			return nil, &rpc.Error{Code: -32602, Message: "extrinsic is not hex"}
		}
		n.mu.Lock()
		outcome := n.outcome
		n.mu.Unlock()
		evs, perr := outcome(xt)
		if perr != nil {
			return nil, perr
		}
		n.mu.Lock()
		n.submitted = append(n.submitted, xt)
		n.mu.Unlock()
		n.SetStorage(t, "System", "Events", nil, evs)
		return []any{"ready", map[string]string{"inBlock": InclusionBlock}}, nil
	})
	n.Handle("author_unwatchExtrinsic", func([]json.RawMessage) (any, *rpc.Error) { return true, nil })
	n.Handle("chain_getBlock", func(p []json.RawMessage) (any, *rpc.Error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if len(n.submitted) == 0 {
			return nil, &rpc.Error{Code: -32602, Message: "no block"}
		}
		last := n.submitted[len(n.submitted)-1]
		return map[string]any{"block": map[string]any{"extrinsics": []string{"0x280403000b", "0x" + hex.EncodeToString(last)}}}, nil
	})
	return n
}

// SetOutcome decides what happens to each submitted extrinsic: the
// encoded System.Events of its block (it is extrinsic 1 there), or a
// transaction-pool refusal.
func (n *Node) SetOutcome(f func(xt []byte) (events []byte, poolErr *rpc.Error)) {
	n.mu.Lock()
	n.outcome = f
	n.mu.Unlock()
}

// Submitted returns the extrinsics taken into blocks, in order.
func (n *Node) Submitted() [][]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([][]byte(nil), n.submitted...)
}

// SetStorage sets the encoded value the node answers for pallet.item at
// keys (nil: absent).
func (n *Node) SetStorage(t testing.TB, pallet, item string, keys []any, value []byte) {
	t.Helper()
	k, err := n.MD.StorageKey(pallet, item, keys...)
	if err != nil {
		t.Fatal(err)
	}
	v := json.RawMessage("null")
	if value != nil {
		v, _ = json.Marshal("0x" + hex.EncodeToString(value))
	}
	n.mu.Lock()
	n.storage[strings.ToLower("0x"+hex.EncodeToString(k))] = v
	n.mu.Unlock()
}

// EncodeStorage encodes v as the value type of pallet.item.
func (n *Node) EncodeStorage(t testing.TB, pallet, item string, v any) []byte {
	t.Helper()
	_, e, err := n.MD.Storage(pallet, item)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.MD.Types.Encode(nil, e.Value, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Register makes hotkey uid on netuid.
func (n *Node) Register(t testing.TB, netuid int, hotkey [32]byte, uid int) {
	n.SetStorage(t, "SubtensorModule", "Uids", []any{netuid, hotkey}, n.EncodeStorage(t, "SubtensorModule", "Uids", uid))
}
