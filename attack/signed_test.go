package attack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/sign"
)

// forger signs with one key and claims another's address.
type forger struct {
	key   *sign.Keypair
	claim string
}

func (f forger) Address() string                 { return f.claim }
func (f forger) Sign(msg []byte) ([]byte, error) { return f.key.Sign(msg) }

// TestForgedAndReplayedSignatures: requests to a miner that are unsigned,
// signed by another key than the one they claim, altered after signing,
// signed for another node, stale, or replayed are refused with 401 and
// start nothing.
func TestForgedAndReplayedSignatures(t *testing.T) {
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	m, vkey := n.Miners[0], n.Validator.Key()
	mallory, _ := sign.FromURI("//attack//mallory")
	url := "http://" + m.Addr() + api.PathStartTraining
	body, _ := json.Marshal(trainRequest("0a1b2c3d", "5e6f7a8b", n.Validator.Addr()))
	before := snapshot(t, n.dir)

	plain, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	expect(t, "unsigned", do(t, plain), http.StatusUnauthorized, "not signed")

	forged, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if err := sign.SignRequest(forged, forger{mallory, vkey.Address()}, m.Key().Address(), time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(t, "forged", do(t, forged), http.StatusUnauthorized, "bad signature")

	altered := signedReq(t, vkey, m.Key().Address(), "POST", url, body)
	evil := bytes.Replace(body, []byte("0a1b2c3d"), []byte("deadbeef"), -1)
	altered.Body, altered.ContentLength = io.NopCloser(bytes.NewReader(evil)), int64(len(evil))
	expect(t, "altered body", do(t, altered), http.StatusUnauthorized, "does not match")

	other := signedReq(t, vkey, mallory.Address(), "POST", url, body)
	expect(t, "signed for another node", do(t, other), http.StatusUnauthorized, "signed for")

	stale, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	if err := sign.SignRequest(stale, vkey, m.Key().Address(), time.Now().Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect(t, "stale nonce", do(t, stale), http.StatusUnauthorized, "stale")
	unchanged(t, "forged requests", before, n.dir, "validator/validator.db")

	// A replay of a request the miner answered.
	status := signedReq(t, vkey, m.Key().Address(), "GET", "http://"+m.Addr()+api.PathTaskStatus+"0a1b2c3d", nil)
	again, _ := http.NewRequest("GET", status.URL.String(), nil)
	again.Header = status.Header.Clone()
	expect(t, "first status request", do(t, status), http.StatusNotFound, "")
	expect(t, "replayed", do(t, again), http.StatusUnauthorized, "already used")
}

// soloMiner is a miner node run on its own against a local chain, so that
// a test can stop it and open it again on the same state.
type soloMiner struct {
	home  string
	chain *chain.Local
	key   *sign.Keypair
	node  *minernode.Node
	stop  func()
}

func startSolo(t *testing.T, s *soloMiner) {
	t.Helper()
	cfg := minernode.DefaultConfig()
	cfg.Home, cfg.Listen, cfg.Strategy = s.home, "127.0.0.1:0", "lora-fast"
	mn, err := minernode.Open(context.Background(), cfg, minernode.Deps{Key: s.key, Chain: s.chain, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := mn.Join(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mn.Serve(ctx) }()
	s.node = mn
	s.stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("miner stopped with: %v", err)
		}
	}
}

// TestReplayAfterRestart: a request a miner answered cannot be replayed
// once the miner restarts (its nonces are kept in its state).
func TestReplayAfterRestart(t *testing.T) {
	ctx := context.Background()
	local, err := chain.OpenLocal(chain.LocalOptions{Params: node.LocalChainParams(), CheckAddress: node.CheckSS58})
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := sign.FromURI("//attack//validator")
	mkey, _ := sign.FromURI("//attack//miner")
	if err := node.JoinChain(ctx, local, vkey, "127.0.0.1:1", 2000); err != nil {
		t.Fatal(err)
	}
	if err := local.RunEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	s := &soloMiner{home: t.TempDir(), chain: local, key: mkey}
	startSolo(t, s)
	req := signedReq(t, vkey, mkey.Address(), "GET", "http://"+s.node.Addr()+api.PathTaskStatus+"0a1b2c3d", nil)
	header := req.Header.Clone()
	expect(t, "the validator's request", do(t, req), http.StatusNotFound, "no task")
	s.stop()
	startSolo(t, s)
	defer s.stop()
	again, _ := http.NewRequest("GET", "http://"+s.node.Addr()+api.PathTaskStatus+"0a1b2c3d", nil)
	again.Header = header
	expect(t, "replayed after a restart", do(t, again), http.StatusUnauthorized, "already used")
}

// TestMinerTakesOrdersOnlyFromPermittedValidators: a miner answers only
// validators with a validator permit and at least the minimum stake (1000
// TAO by default): a fresh key, a staked key without a permit and an
// unregistered key cannot start a job (whose URLs it would fetch), and
// their refused requests leave nothing on the miner.
func TestMinerTakesOrdersOnlyFromPermittedValidators(t *testing.T) {
	ctx := context.Background()
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	m := n.Miners[0]
	url := "http://" + m.Addr() + api.PathStartTraining
	// The job points at an address inside the miner's network.
	req := trainRequest("0a1b2c3d", "5e6f7a8b", "169.254.169.254:80")
	body, _ := json.Marshal(req)
	fresh, _ := sign.FromURI("//attack//fresh")
	rich, _ := sign.FromURI("//attack//rich")
	stranger, _ := sign.FromURI("//attack//stranger")
	for _, k := range []*sign.Keypair{fresh, rich} {
		if err := node.JoinChain(ctx, n.Chain, k, "127.0.0.1:1", 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Chain.AddStake(ctx, rich.Address(), 5000); err != nil { // no epoch yet: no permit
		t.Fatal(err)
	}
	if err := n.Chain.AddStake(ctx, fresh.Address(), 10); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.dir)
	expect(t, "a fresh key", do(t, signedReq(t, fresh, m.Key().Address(), "POST", url, body)), http.StatusForbidden, "below the minimum")
	expect(t, "a staked key without a permit", do(t, signedReq(t, rich, m.Key().Address(), "POST", url, body)), http.StatusForbidden, "no validator permit")
	expect(t, "an unregistered key", do(t, signedReq(t, stranger, m.Key().Address(), "POST", url, body)), http.StatusForbidden, "not registered")
	unchanged(t, "refused orders", before, n.dir, "validator/validator.db")
	if _, err := m.Miner().TaskStatus(ctx, n.Validator.Key().Address(), "0a1b2c3d"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("a refused order left a job: %v", err)
	}
}

// TestUnsignedFloodReadsNothing: an unsigned, headerless PUT announcing
// 20 GiB to the validator's upload endpoint is refused at once (401),
// before its body is read: no temporary file appears and the answer comes
// while the client is still sending.
func TestUnsignedFloodReadsNothing(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	before := snapshot(t, n.dir)
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 1<<16)
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	req, _ := http.NewRequest("PUT", n.Validator.URL()+api.PathUpload+"0a1b2c3d/5e6f7a8b", pr)
	req.ContentLength = 20 << 30
	expect(t, "unsigned 20 GiB upload", do(t, req), http.StatusUnauthorized, "not signed")
	// A signed, admitted caller with an oversized JSON body: 413.
	huge := append([]byte(`{"task_id":"`), bytes.Repeat([]byte("a"), 2<<20)...)
	r := do(t, signedReq(t, n.Validator.Key(), n.Miners[0].Key().Address(), "POST", "http://"+n.Miners[0].Addr()+api.PathTaskOffer, huge))
	expect(t, "a 2 MiB offer", r, http.StatusRequestEntityTooLarge, "larger than")
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	unchanged(t, "oversized requests", before, n.dir, "validator/validator.db")
	if ents, _ := os.ReadDir(filepath.Join(n.dir, "validator", "blobs", "tmp")); len(ents) != 0 {
		t.Errorf("blob store holds temporary files: %v", ents)
	}
}
