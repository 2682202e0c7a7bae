package subtensor

import (
	"os"
	"strconv"
	"testing"

	"github.com/crucible-net/crucible/sign"
)

// Against a real node, when one is named (never in CI):
//
//	CRUCIBLE_SUBTENSOR_URL=ws://127.0.0.1:9944 CRUCIBLE_SUBTENSOR_NETUID=1 \
//	  go test ./chain/subtensor -run Live -v
//
// reads the runtime, the metagraph and the hyperparameters. With
// CRUCIBLE_SUBTENSOR_KEY (a secret URI, e.g. //Alice on a local
// development chain) whose hotkey is registered on the subnet, it also
// publishes an axon (CRUCIBLE_SUBTENSOR_AXON=IP:PORT) and sets a weight on
// its own uid. Writes cost fees: use a local or test network.
func TestLive(t *testing.T) {
	url := os.Getenv("CRUCIBLE_SUBTENSOR_URL")
	if url == "" {
		t.Skip("CRUCIBLE_SUBTENSOR_URL is not set")
	}
	netuid, err := strconv.ParseUint(os.Getenv("CRUCIBLE_SUBTENSOR_NETUID"), 10, 16)
	if err != nil {
		t.Fatalf("CRUCIBLE_SUBTENSOR_NETUID: %v", err)
	}
	opts := Options{URL: url, NetUID: uint16(netuid)}
	var key *sign.Keypair
	if uri := os.Getenv("CRUCIBLE_SUBTENSOR_KEY"); uri != "" {
		if key, err = sign.FromURI(uri); err != nil {
			t.Fatal(err)
		}
		opts.Keys = []Signer{Sr25519(key)}
	}
	ctx := testCtx(t)
	c, err := Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rt, err := c.runtime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("runtime %s %d, metadata V%d, signed extensions %d", rt.specName, rt.specVersion, rt.md.Version, len(rt.md.Extensions))
	p, err := c.SubnetParams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("netuid %d params: %+v", netuid, p)
	mg, err := c.Metagraph(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("block %d: %d neurons", mg.Block, len(mg.Neurons))
	for i, n := range mg.Neurons {
		if i < 5 {
			t.Logf("uid %d %s stake %.3f permit %v axon %s:%d", n.UID, n.Hotkey, n.Stake, n.Validator, n.IP, n.Port)
		}
	}
	if key == nil {
		return
	}
	me, err := mg.Node(key.Address())
	if err != nil {
		t.Fatalf("%s: %v (register it first: btcli subnets register --netuid %d)", key.Address(), err, netuid)
	}
	if axon := os.Getenv("CRUCIBLE_SUBTENSOR_AXON"); axon != "" {
		host, port, err := splitHostPort(axon)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ServeAxon(ctx, key.Address(), host, port); err != nil {
			t.Fatalf("serve_axon: %v", err)
		}
	}
	if err := c.SetWeights(ctx, key.Address(), []uint16{uint16(me.UID)}, []uint16{65535}, p.WeightsVersionKey); err != nil {
		t.Fatalf("set_weights: %v", err)
	}
	t.Logf("set weights as uid %d", me.UID)
}
