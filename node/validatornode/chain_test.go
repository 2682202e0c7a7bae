package validatornode_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/sign"
)

// TestMinerJoinsEmbeddedChain has miners join the chain a validator embeds,
// through its URL: at /chain and at the validator's own root. A write
// signed by another key than the one it acts for is refused.
func TestMinerJoinsEmbeddedChain(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i, base := range []string{n.URL() + "/chain", n.URL()} {
		key, _ := sign.FromURI(fmt.Sprintf("//embedded-miner-%d", i))
		c := node.NewChainClient(base, key)
		if err := node.JoinChain(ctx, c, key, fmt.Sprintf("127.0.0.1:%d", 7001+i), 0); err != nil {
			t.Fatalf("join through %s: %v", base, err)
		}
		mg, err := c.Metagraph(ctx)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, nd := range mg.Nodes() {
			found = found || nd.Hotkey == key.Address() && nd.Port == 7001+i
		}
		if !found {
			t.Errorf("through %s: %s is not in the metagraph", base, key.Address())
		}
	}
	// An unsigned registration, and one signed by another key than the
	// hotkey it registers: both refused.
	victim, _ := sign.FromURI("//victim")
	body := fmt.Sprintf(`{"hotkey":%q,"coldkey":%q}`, victim.Address(), victim.Address())
	resp, err := http.Post(n.URL()+"/chain/v1/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned registration: %d, want 401", resp.StatusCode)
	}
	mallory, _ := sign.FromURI("//mallory")
	req, _ := http.NewRequest(http.MethodPost, n.URL()+"/v1/register", strings.NewReader(body))
	if err := sign.SignRequest(req, mallory, chain.Audience, time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Errorf("registration of another's hotkey: %d", resp.StatusCode)
	}
	mg, _ := node.NewChainClient(n.URL()).Metagraph(ctx)
	for _, nd := range mg.Nodes() {
		if nd.Hotkey == victim.Address() {
			t.Error("the refused registration is in the metagraph")
		}
	}
}
