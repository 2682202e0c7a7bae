package subtensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/chain/subtensor/rpc"
	"github.com/crucible-net/crucible/chain/subtensor/scale"
	"github.com/crucible-net/crucible/chain/subtensor/subtensortest"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

type writeNode = subtensortest.Node

func newWriteNode(t *testing.T) *writeNode { return subtensortest.New(t) }

// parsed is a submitted extrinsic taken apart (sr25519 signer, the spec 343
// extensions: era, nonce, tip, metadata-hash mode).
type parsed struct {
	signer [32]byte
	sig    []byte
	nonce  uint64
	call   []byte
	body   []byte
}

func parseXt(t *testing.T, xt []byte) parsed {
	t.Helper()
	d := scale.NewDecoder(xt)
	n := d.Len("xt", 1)
	body := d.Take(n, "xt")
	d = scale.NewDecoder(body)
	var p parsed
	if v := d.U8(); v != signedVersion {
		t.Fatalf("version 0x%x", v)
	}
	if d.U8() != 0 {
		t.Fatal("address is not MultiAddress::Id")
	}
	copy(p.signer[:], d.Take(32, "signer"))
	if d.U8() != 1 {
		t.Fatal("signature is not Sr25519")
	}
	p.sig = d.Take(64, "sig")
	d.Take(2, "era")
	p.nonce = d.Compact()
	d.Compact() // tip
	d.U8()      // CheckMetadataHash mode
	p.call = d.Take(d.Remaining(), "call")
	if d.Err() != nil {
		t.Fatal(d.Err())
	}
	p.body = body
	return p
}

func aliceClient(t *testing.T, n *writeNode, opts Options) (*Client, *sign.Keypair) {
	t.Helper()
	alice, err := sign.FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	opts.URL, opts.NetUID, opts.Log = n.WSURL(), 1, quietLog()
	opts.Keys = append(opts.Keys, Sr25519(alice))
	c, err := Open(testCtx(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, alice
}

// register makes //Alice uid 5 of netuid 1, with commit-reveal cr.
func register(t *testing.T, n *writeNode, alice *sign.Keypair, cr bool, lastUpdate []uint64) {
	n.SetStorage(t, "SubtensorModule", "Uids", []any{1, alice.PublicKey()}, n.EncodeStorage(t, "SubtensorModule", "Uids", 5))
	n.SetStorage(t, "SubtensorModule", "CommitRevealWeightsEnabled", []any{1}, n.EncodeStorage(t, "SubtensorModule", "CommitRevealWeightsEnabled", cr))
	n.SetStorage(t, "SubtensorModule", "LastUpdate", []any{1}, n.EncodeStorage(t, "SubtensorModule", "LastUpdate", lastUpdate))
}

func calls(t *testing.T, n *writeNode) []parsed {
	var out []parsed
	for _, xt := range n.Submitted() {
		out = append(out, parseXt(t, xt))
	}
	return out
}

// set_weights goes out as the call the metadata describes, signed by the
// hotkey with the node's nonce, and its signature verifies over the
// payload rebuilt from the node's runtime (spec 343, main-network genesis,
// era from the finalized block).
func TestSetWeightsSubmitsSignedCall(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	register(t, n, alice, false, make([]uint64, 8))
	if err := c.SetWeights(testCtx(t), alice.Address(), []uint16{0, 3}, []uint16{65535, 100}, 7); err != nil {
		t.Fatal(err)
	}
	got := calls(t, n)
	if len(got) != 1 {
		t.Fatalf("%d extrinsics submitted", len(got))
	}
	want, _ := encodeCall(n.MD, "SubtensorModule", "set_weights", map[string]any{"netuid": 1, "dests": []uint16{0, 3}, "weights": []uint16{65535, 100}, "version_key": uint64(7)})
	p := got[0]
	if !bytes.Equal(p.call, want) || p.signer != alice.PublicKey() || p.nonce != 5 {
		t.Fatalf("call %x signer %x nonce %d", p.call, p.signer, p.nonce)
	}
	era, _ := mortalEra(6852690, 64)
	extra, additional, _ := extensions(n.MD, txParams{nonce: 5, era: era, eraHash: [32]byte(mustHex(t, block6852690)), specVer: 343, txVer: 1, genesis: [32]byte(mustHex(t, mainnetGenesis))})
	if err := sign.VerifyPublicKey(alice.PublicKey(), signingPayload(p.call, extra, additional), p.sig); err != nil {
		t.Errorf("signature: %v", err)
	}
}

// The rate limit is checked before anything is paid for: a neuron that set
// weights 10 blocks ago (limit: the metadata's default 100) is refused with
// SettingWeightsTooFast and nothing is submitted.
func TestSetWeightsRateLimitedLocally(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	lu := make([]uint64, 8)
	lu[5] = 6852690 - 10
	register(t, n, alice, false, lu)
	err := c.SetWeights(testCtx(t), alice.Address(), []uint16{0}, []uint16{1}, 7)
	if !errors.Is(err, chain.ErrSettingWeightsTooFast) || crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Fatalf("err %v", err)
	}
	if len(calls(t, n)) != 0 {
		t.Error("an extrinsic was submitted")
	}
}

// A call that fails on chain comes back as the named refusal, read from
// the block's ExtrinsicFailed event and the pallet's error enum.
func TestDispatchErrorIsNamed(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	register(t, n, alice, false, nil)
	n.SetOutcome(func([]byte) ([]byte, *rpc.Error) {
		return n.Events(t, 1, "ExtrinsicFailed", &[2]string{"SubtensorModule", "NeuronNoValidatorPermit"}), nil
	})
	err := c.SetWeights(testCtx(t), alice.Address(), []uint16{0}, []uint16{1}, 7)
	if !errors.Is(err, chain.ErrNeuronNoValidatorPermit) || crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Fatalf("err %v", err)
	}
}

// A transaction-pool refusal carrying Subtensor's custom error code is
// named too (12: ServingRateLimitExceeded).
func TestPoolRefusalIsNamed(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	n.SetOutcome(func([]byte) ([]byte, *rpc.Error) {
		return nil, &rpc.Error{Code: 1010, Message: "Invalid Transaction", Data: json.RawMessage(`"Custom error: 12"`)}
	})
	err := c.ServeAxon(testCtx(t), alice.Address(), "203.0.113.7", 8091)
	if !errors.Is(err, chain.ErrServingRateLimitExceeded) {
		t.Fatalf("err %v", err)
	}
}

// Bad input is refused before anything is signed: addresses other nodes
// cannot reach, ports out of range, keys the client does not hold,
// mismatched weight vectors.
func TestWritesRefuseBadInput(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	ctx := testCtx(t)
	for _, ip := range []string{"127.0.0.1", "0.0.0.0", "::1", "255.255.255.255", "node.example", ""} {
		if err := c.ServeAxon(ctx, alice.Address(), ip, 8091); !errors.Is(err, chain.ErrInvalidIPAddress) {
			t.Errorf("ip %q: %v", ip, err)
		}
	}
	for _, port := range []int{0, -1, 65536} {
		if err := c.ServeAxon(ctx, alice.Address(), "203.0.113.7", port); !errors.Is(err, chain.ErrInvalidPort) {
			t.Errorf("port %d: %v", port, err)
		}
	}
	bob, _ := sign.FromURI("//Bob")
	if err := c.SetWeights(ctx, bob.Address(), []uint16{0}, []uint16{1}, 0); crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
		t.Errorf("unknown key: %v", err)
	}
	if err := c.SetWeights(ctx, "not-an-address", []uint16{0}, []uint16{1}, 0); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("bad address: %v", err)
	}
	if err := c.SetWeights(ctx, alice.Address(), []uint16{0, 1}, []uint16{1}, 0); !errors.Is(err, chain.ErrWeightVecNotEqualSize) {
		t.Errorf("mismatched: %v", err)
	}
	if err := c.AddStake(ctx, alice.Address(), -1); !errors.Is(err, chain.ErrAmountTooLow) {
		t.Errorf("negative stake: %v", err)
	}
	if len(calls(t, n)) != 0 {
		t.Error("an extrinsic was submitted")
	}
}

// Register: a registered hotkey is ECONFLICT with its uid (nodes carry on);
// an unregistered one is ENOTFOUND unless burning is allowed, and then needs
// the coldkey's key; the errors say how to register with btcli.
func TestRegister(t *testing.T) {
	n := newWriteNode(t)
	c, alice := aliceClient(t, n, Options{})
	bob, _ := sign.FromURI("//Bob")
	_, err := c.Register(testCtx(t), bob.Address(), bob.Address())
	if crucible.ErrorCode(err) != crucible.ENOTFOUND || !strings.Contains(err.Error(), "not registered on netuid 1") {
		t.Fatalf("err %v", err)
	}
	if len(calls(t, n)) != 0 {
		t.Error("an extrinsic was submitted")
	}
	c, alice = aliceClient(t, n, Options{BurnRegister: true})
	register(t, n, alice, false, nil)
	uid, err := c.Register(testCtx(t), alice.Address(), alice.Address())
	if uid != 5 || !errors.Is(err, chain.ErrHotKeyAlreadyRegistered) {
		t.Fatalf("uid %d err %v", uid, err)
	}
	_, err = c.Register(testCtx(t), bob.Address(), bob.Address())
	var ce *crucible.Error
	if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || !errors.As(err, &ce) || !strings.Contains(ce.Hint, "btcli subnets register --netuid 1") {
		t.Fatalf("err %v", err)
	}
}

// With commit-reveal on, weights are committed by hash (Subtensor's
// get_commit_hash of the stored salt), and a commit kept in the commits
// file from long ago is revealed first.
func TestCommitReveal(t *testing.T) {
	n := newWriteNode(t)
	file := filepath.Join(t.TempDir(), "commits.json")
	alice, _ := sign.FromURI("//Alice")
	old := []commit{{Hotkey: alice.Address(), NetUID: 1, UIDs: []uint16{2}, Values: []uint16{9}, Salt: []uint16{1, 2, 3, 4, 5, 6, 7, 8}, VersionKey: 7, Block: 6852690 - 5000}}
	b, _ := json.Marshal(old)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := aliceClient(t, n, Options{CommitsFile: file})
	register(t, n, alice, true, nil)
	if err := c.SetWeights(testCtx(t), alice.Address(), []uint16{0, 3}, []uint16{65535, 100}, 7); err != nil {
		t.Fatal(err)
	}
	got := calls(t, n)
	if len(got) != 2 {
		t.Fatalf("%d extrinsics, want reveal then commit", len(got))
	}
	reveal, _ := encodeCall(n.MD, "SubtensorModule", "reveal_weights", map[string]any{"netuid": 1, "uids": []uint16{2}, "values": []uint16{9}, "salt": old[0].Salt, "version_key": uint64(7)})
	if !bytes.Equal(got[0].call, reveal) {
		t.Errorf("first call %x, want the reveal %x", got[0].call, reveal)
	}
	if got[1].nonce != 5 {
		t.Errorf("nonce %d", got[1].nonce)
	}
	var kept []commit
	b, _ = os.ReadFile(file)
	if err := json.Unmarshal(b, &kept); err != nil || len(kept) != 1 {
		t.Fatalf("commits file: %s %v", b, err)
	}
	h := commitHash(alice.PublicKey(), 1, []uint16{0, 3}, []uint16{65535, 100}, kept[0].Salt, 7)
	commitCall, _ := encodeCall(n.MD, "SubtensorModule", "commit_weights", map[string]any{"netuid": 1, "commit_hash": h})
	if !bytes.Equal(got[1].call, commitCall) || kept[0].Hash != hexOf(h[:]) {
		t.Errorf("commit call %x, want %x", got[1].call, commitCall)
	}
}
