package attack_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/sign"
)

// TestTournamentEntries: over the validator's signed entry endpoint, an
// unsigned entry, one whose request signature is forged, a miner sending
// another miner's signed entry, an unregistered key, a miner entering
// twice and a miner entering another's method are refused, and none of
// them writes an entry or charges anything; the miner's own entry is
// accepted once.
func TestTournamentEntries(t *testing.T) {
	n := startNet(t, []string{"lora-fast", "auto"}, nil, func(c *minernode.Config) { c.NoTournaments = true })
	ctx := context.Background()
	v := n.Validator
	tour, err := v.Announce(ctx, crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 2, Advance: 1, GroupTasks: 1, PairTasks: 1, BossTasks: 1,
		Hours: 0.01, EntryWindow: time.Hour,
		Pool:       []crucible.TournamentTaskSpec{{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "facts.jsonl"}},
		GroupTypes: []crucible.TaskType{crucible.TaskInstruct}, KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct},
		BossTypes: []crucible.TaskType{crucible.TaskInstruct},
	})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := n.Miners[0].Key(), n.Miners[1].Key()
	mallory, _ := sign.FromURI("//attack//mallory")
	url := v.URL() + api.PathTournamentEntries + tour.ID + api.TournamentEntriesSuffix
	entry := func(k *sign.Keypair, m crucible.Method) []byte {
		at := time.Now().UTC()
		sig, _ := k.Sign(crucible.EntryMessage(tour.ID, k.Address(), m.Hash(), 0, at))
		b, _ := json.Marshal(api.EnterRequest{Method: m, MethodHash: m.Hash(), SignedAt: at, Signature: hex.EncodeToString(sig)})
		return b
	}
	aliceMethod := crucible.Method{Strategy: "lora-fast", Version: "recipe-1"}
	entries := func() int {
		es, err := v.Store().FindEntries(ctx, tour.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}

	plain, _ := http.NewRequest("POST", url, bytes.NewReader(entry(alice, aliceMethod)))
	expect(t, "unsigned", do(t, plain), http.StatusUnauthorized, "not signed")
	forged, _ := http.NewRequest("POST", url, bytes.NewReader(entry(alice, aliceMethod)))
	if err := sign.SignRequest(forged, forger{mallory, alice.Address()}, v.Key().Address(), time.Now()); err != nil {
		t.Fatal(err)
	}
	expect(t, "forged request", do(t, forged), http.StatusUnauthorized, "bad signature")
	expect(t, "another miner's entry", do(t, signedReq(t, bob, v.Key().Address(), "POST", url, entry(alice, aliceMethod))), http.StatusUnauthorized, "signature is not")
	expect(t, "unregistered", do(t, signedReq(t, mallory, v.Key().Address(), "POST", url, entry(mallory, crucible.Method{Strategy: "x"}))), http.StatusForbidden, "")
	if got := entries(); got != 0 {
		t.Fatalf("%d entries written by refused requests", got)
	}

	r := do(t, signedReq(t, alice, v.Key().Address(), "POST", url, entry(alice, aliceMethod)))
	if r.status != http.StatusOK {
		t.Fatalf("alice's entry: %d %s", r.status, r.body)
	}
	expect(t, "twice", do(t, signedReq(t, alice, v.Key().Address(), "POST", url, entry(alice, crucible.Method{Strategy: "full"}))), http.StatusConflict, "entered tournament")
	expect(t, "another's method", do(t, signedReq(t, bob, v.Key().Address(), "POST", url, entry(bob, aliceMethod))), http.StatusConflict, "entry in tournament")
	if got := entries(); got != 1 {
		t.Fatalf("%d entries, want alice's only", got)
	}
}
