package node

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/chain/subtensor/subtensortest"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

func TestIsSubtensor(t *testing.T) {
	for s, want := range map[string]bool{
		"subtensor://127.0.0.1:9944": true, "subtensor+tls://entrypoint-finney.opentensor.ai:443": true,
		"ws://127.0.0.1:9944": true, "http://127.0.0.1:9944": false, "embedded": false, "chain.json": false,
	} {
		if IsSubtensor(s) != want {
			t.Errorf("IsSubtensor(%q) = %v", s, !want)
		}
	}
}

// A Subtensor chain without a valid --netuid is refused before any
// connection, with a hint.
func TestOpenSubtensorNeedsNetUID(t *testing.T) {
	k, _ := sign.FromURI("//Alice")
	for _, netuid := range []int{0, -1, 65536} {
		_, err := OpenSubtensor(context.Background(), "subtensor://127.0.0.1:1", netuid, "", k)
		if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "--netuid") {
			t.Errorf("netuid %d: %v", netuid, err)
		}
	}
	// A node that is not there: the error names it and hints at a local one.
	_, err := OpenSubtensor(context.Background(), "subtensor://127.0.0.1:1", 1, "", k)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "subtensor-localnet") {
		t.Errorf("err %v", err)
	}
}

// A node joining a Subtensor subnet: its hotkey is registered already (no
// registration extrinsic), it publishes its axon (one serve_axon, signed by
// the hotkey), and no stake is added whatever --stake says.
func TestJoinSubtensor(t *testing.T) {
	sim := subtensortest.New(t)
	k, _ := sign.FromURI("//Alice")
	sim.Register(t, 1, k.PublicKey(), 5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := OpenSubtensor(ctx, sim.WSURL(), 1, filepath.Join(t.TempDir(), "commits.json"), k)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := JoinChain(ctx, c, k, "203.0.113.7:8090", 1000); err != nil {
		t.Fatal(err)
	}
	xts := sim.Submitted()
	if len(xts) != 1 {
		t.Fatalf("%d extrinsics submitted, want one serve_axon", len(xts))
	}
	p, v, err := sim.MD.Call("SubtensorModule", "serve_axon")
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	if !bytes.Contains(xts[0], pub[:]) || !bytes.Contains(xts[0], []byte{p.Index, v.Index, 1, 0}) {
		t.Errorf("extrinsic %x is not %s's serve_axon on netuid 1", xts[0], k.Address())
	}
	// An unregistered hotkey stops the node with the btcli hint.
	bob, _ := sign.FromURI("//Bob")
	c2, err := OpenSubtensor(ctx, sim.WSURL(), 1, "", bob)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	err = JoinChain(ctx, c2, bob, "203.0.113.8:7999", 0)
	var ce *crucible.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Hint, "btcli subnets register --netuid 1") {
		t.Errorf("unregistered: %v", err)
	}
}
