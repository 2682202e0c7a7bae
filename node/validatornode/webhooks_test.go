package validatornode_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/webhook"
)

// TestWebhooksOnNode runs a validator node whose operator allows private
// webhook targets, registers a real local receiver through the customer
// API, and sees a signed test message and the status changes of the
// customer's task arrive; the node's default refuses the same URL.
func TestWebhooksOnNode(t *testing.T) {
	f := newFixture(t, "")
	cfg := validatornode.DefaultConfig()
	cfg.Home, cfg.DB, cfg.Listen, cfg.Assets = f.home, f.db, "127.0.0.1:0", f.models
	cfg.Poll, cfg.WeightsEvery, cfg.BlockTime = 200*time.Millisecond, 0, 50*time.Millisecond
	cfg.WebhooksAllowPrivate = true
	key, _ := sign.FromURI("//validatornode-test")
	n, err := validatornode.Open(context.Background(), cfg, validatornode.Deps{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []webhook.Message
	var secret string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if err := webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var m webhook.Message
		json.Unmarshal(body, &m)
		got = append(got, m)
	}))
	defer rcv.Close()
	c := api.NewClient(n.URL(), n.AdminKey())
	cw, err := c.CreateWebhook(ctx, rcv.URL)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = cw.Secret
	mu.Unlock()
	if _, err := c.PingWebhook(ctx, cw.Webhook.ID); err != nil {
		t.Fatal(err)
	}
	task := f.task()
	task.AccountID = cw.Webhook.AccountID
	if err := n.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		var types []string
		ping, prep := false, false
		for _, m := range got {
			b, _ := json.Marshal(m.Data)
			types = append(types, m.Type)
			ping = ping || m.Type == "ping"
			prep = prep || m.Type == "task.status" && strings.Contains(string(b), `"to_status":"`+string(crucible.StatusPreparingData)+`"`)
		}
		mu.Unlock()
		if ping && prep {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %v", types)
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, err := c.WebhookDeliveries(ctx, cw.Webhook.ID, 10)
	if err != nil || len(log) < 2 {
		t.Fatalf("delivery log: %v %d", err, len(log))
	}
}
