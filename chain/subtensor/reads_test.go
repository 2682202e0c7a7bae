package subtensor

import (
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/crucible"
)

// The metagraph of netuid 1 at block 6852690, read through the client from
// the recorded main-network responses (WebSocket and HTTP), equals what
// polkadot.js decodes from the same bytes, neuron by neuron.
func TestMetagraphFromRecordedMainnet(t *testing.T) {
	ref, err := vectors.LoadReference()
	if err != nil {
		t.Fatal(err)
	}
	node := newReplayNode(t)
	for _, url := range []string{node.WSURL(), node.HTTPURL()} {
		t.Run(url[:4], func(t *testing.T) {
			ctx := testCtx(t)
			c, err := Open(ctx, Options{URL: url, NetUID: 1, Log: quietLog()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			block, err := c.CurrentBlock(ctx)
			if err != nil || block != 6852690 {
				t.Fatalf("block %d, %v", block, err)
			}
			mg, err := c.Metagraph(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if mg.Block != 6852690 || len(mg.Neurons) != ref.NeuronsLite.Count || ref.NeuronsLite.Count != 1024 {
				t.Fatalf("block %d, %d neurons; want 6852690 and %d", mg.Block, len(mg.Neurons), ref.NeuronsLite.Count)
			}
			permits, served := 0, 0
			for i, want := range ref.NeuronsLite.Neurons {
				got := mg.Neurons[i]
				rao, _ := new(big.Float).SetString(want.StakeRao)
				stake, _ := new(big.Float).Quo(rao, big.NewFloat(1e9)).Float64()
				ip := ""
				if want.IP != "0" {
					n, _ := new(big.Int).SetString(want.IP, 10)
					var b [16]byte
					n.FillBytes(b[:])
					if want.IPType == 4 {
						ip = netip.AddrFrom4([4]byte(b[12:])).String()
					} else {
						ip = netip.AddrFrom16(b).String()
					}
				}
				em, _ := strconv.ParseFloat(want.Emission, 64)
				if got.UID != want.UID || got.Hotkey != want.Hotkey || got.Coldkey != want.Coldkey || got.Active != want.Active ||
					got.Validator != want.ValidatorPermit || got.LastUpdate != want.LastUpdate || got.IP != ip || got.Port != want.Port ||
					got.Stake != stake || got.Incentive != float64(want.Incentive)/65535 || got.Dividends != float64(want.Dividends)/65535 ||
					got.Consensus != float64(want.Consensus)/65535 || got.VTrust != float64(want.ValidatorTrust)/65535 || got.Emission != em/1e9 {
					t.Fatalf("neuron %d:\n got %+v\nwant %+v", i, got, want)
				}
				if got.Validator {
					permits++
				}
				if got.IP != "" {
					served++
				}
			}
			if permits == 0 || served == 0 {
				t.Errorf("%d validator permits, %d served axons: the comparison checked too little", permits, served)
			}
			// No hyperparameter was recorded at this block: each reads its
			// default from the metadata (Subtensor's DefaultTempo, 360).
			if mg.Hyperparams.Tempo != 360 {
				t.Errorf("tempo %d, want the metadata default 360", mg.Hyperparams.Tempo)
			}
			n, err := mg.Node(ref.NeuronsLite.Neurons[5].Hotkey)
			if err != nil || n.UID != 5 {
				t.Errorf("Node: %v %v", n, err)
			}
		})
	}
}

// A subnet that does not exist is refused at Open with the netuid named.
func TestOpenUnknownSubnet(t *testing.T) {
	node := newReplayNode(t)
	_, err := Open(testCtx(t), Options{URL: node.WSURL(), NetUID: 4000, Log: quietLog()})
	if crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(4000)) {
		t.Errorf("error %q does not name the subnet", err)
	}
}

func TestNodeURL(t *testing.T) {
	good := map[string]string{
		"subtensor://127.0.0.1:9944":           "ws://127.0.0.1:9944",
		"subtensor+tls://entrypoint-finney.io": "wss://entrypoint-finney.io",
		"ws://10.0.0.2:9944":                   "ws://10.0.0.2:9944",
		"https://node.example:443/":            "https://node.example:443",
	}
	for in, want := range good {
		if got, err := NodeURL(in); err != nil || got != want {
			t.Errorf("%s: %s %v", in, got, err)
		}
	}
	for _, bad := range []string{"subtensor://", "subtensor://host", "ftp://x:1", "chain.json", ""} {
		if _, err := NodeURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if !IsSubtensorURL("subtensor://x:1") || IsSubtensorURL("http://x:1") || IsSubtensorURL("chain.json") {
		t.Error("IsSubtensorURL")
	}
}

// When the node drops the connection, the next read dials again.
func TestReconnects(t *testing.T) {
	node := newReplayNode(t)
	ctx := testCtx(t)
	c, err := Open(ctx, Options{URL: node.WSURL(), NetUID: 1, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	node.DropConnections()
	for i := 0; i < 2; i++ {
		if b, err := c.CurrentBlock(ctx); err != nil || b != 6852690 {
			t.Fatalf("after the drop: %d %v", b, err)
		}
	}
}

// A real state_queryStorageAt answer (the weight row of uid 10 on netuid
// 23, recorded by the Bittensor SDK) is read through the client: the key
// is built from the metadata, the change set parsed, the row decoded.
func TestRecordedWeightRow(t *testing.T) {
	rec, err := vectors.LoadResponses()
	if err != nil {
		t.Fatal(err)
	}
	node := newReplayNode(t)
	for params, resp := range rec["weights"]["state_queryStorageAt"] {
		if err := node.Record("state_queryStorageAt", params, resp); err != nil {
			t.Fatal(err)
		}
	}
	ctx := testCtx(t)
	c, err := Open(ctx, Options{URL: node.WSURL(), NetUID: 1, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rt, err := c.runtime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.queryStorage(ctx, rt, "0x1b3f85dc8c83cada6d1782c955973a509a37c62af3d6ba29f5fd816aee37eb3b",
		[]storageQuery{{"SubtensorModule", "Weights", []any{23, 10}}})
	if err != nil {
		t.Fatal(err)
	}
	row, err := weightRow(v[0])
	if err != nil || len(row) != 1 || row[0].UID != 10 || row[0].Value != 65535 {
		t.Fatalf("row %v %v", row, err)
	}
}
