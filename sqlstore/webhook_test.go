package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// TestWebhooks runs the webhook store on each dialect: webhooks by account,
// one delivery per event and webhook, due deliveries, the log newest
// first, the cursor, and deletion with the log.
func TestWebhooks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		a := &crucible.Account{Name: "alice"}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateWebhook(ctx, &crucible.Webhook{AccountID: "nobody", URL: "https://x/", Secret: "s"}), crucible.ENOTFOUND)
		wantCode(t, s.CreateWebhook(ctx, &crucible.Webhook{AccountID: a.ID, Secret: "s"}), crucible.EINVALID)
		h := &crucible.Webhook{AccountID: a.ID, URL: "https://example.com/h", Secret: "whsec_x", Prefix: "whsec_"}
		if err := s.CreateWebhook(ctx, h); err != nil {
			t.Fatal(err)
		}
		if hs, err := s.FindWebhooks(ctx, a.ID); err != nil || len(hs) != 1 || hs[0].Secret != "whsec_x" {
			t.Fatalf("find webhooks: %v %+v", err, hs)
		}
		now := time.Now()
		d := &crucible.WebhookDelivery{WebhookID: h.ID, AccountID: a.ID, EventID: 7, TaskID: "t", Type: "task.status", Payload: []byte(`{"id":"evt_7"}`)}
		if err := s.CreateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateDelivery(ctx, &crucible.WebhookDelivery{WebhookID: h.ID, AccountID: a.ID, EventID: 7, Type: "task.status", Payload: []byte(`{}`)}), crucible.ECONFLICT)
		for range 2 { // pings (event 0) may repeat
			if err := s.CreateDelivery(ctx, &crucible.WebhookDelivery{WebhookID: h.ID, AccountID: a.ID, Type: "ping", Payload: []byte(`{}`), NextAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		due, err := s.DueDeliveries(ctx, now.Add(time.Second), 10)
		if err != nil || len(due) != 1 || due[0].ID != d.ID || string(due[0].Payload) != `{"id":"evt_7"}` {
			t.Fatalf("due: %v %+v", err, due)
		}
		d.State, d.Attempts, d.LastStatus, d.DeliveredAt = crucible.DeliveryDelivered, 1, 200, &now
		if err := s.UpdateDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
		if due, _ := s.DueDeliveries(ctx, now.Add(2*time.Hour), 10); len(due) != 2 {
			t.Errorf("%d due after the first was delivered, want the 2 pings", len(due))
		}
		log, err := s.FindDeliveries(ctx, h.ID, 10)
		if err != nil || len(log) != 3 || log[2].State != crucible.DeliveryDelivered || log[2].DeliveredAt == nil {
			t.Fatalf("log: %v %+v", err, log)
		}
		if c, _ := s.WebhookCursor(ctx); c != 0 {
			t.Errorf("fresh cursor %d", c)
		}
		s.SetWebhookCursor(ctx, 41)
		s.SetWebhookCursor(ctx, 42)
		if c, _ := s.WebhookCursor(ctx); c != 42 {
			t.Errorf("cursor %d", c)
		}
		if err := s.DeleteWebhook(ctx, h.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.DeleteWebhook(ctx, h.ID), crucible.ENOTFOUND)
		if log, _ := s.FindDeliveries(ctx, h.ID, 10); len(log) != 0 {
			t.Errorf("log kept after deletion: %d", len(log))
		}
	})
}
