package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/webhook"
)

// receiver is a real local webhook endpoint: it checks each delivery's
// signature with the secret and answers with the statuses queued (200 once
// they run out).
type receiver struct {
	mu       sync.Mutex
	secret   string
	statuses []int
	got      []webhook.Message
	bad      []string // why a request was refused
	now      func() time.Time
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses, now: time.Now}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, r.now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		if status == http.StatusOK {
			var m webhook.Message
			json.Unmarshal(body, &m)
			r.got = append(r.got, m)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) messages() []webhook.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Message(nil), r.got...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	store *sqlstore.Store
	acct  *crucible.Account
	clock *clock
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &crucible.Account{Name: "alice"}
	if err := st.CreateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return fixture{store: st, acct: a, clock: &clock{t: time.Now()}}
}

func (f fixture) hook(t *testing.T, url, secret string) *crucible.Webhook {
	t.Helper()
	h := &crucible.Webhook{AccountID: f.acct.ID, URL: url, Secret: secret, Prefix: secret[:10]}
	if err := f.store.CreateWebhook(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return h
}

// task creates a task of the account and moves it to preparing_data: two
// status events.
func (f fixture) task(t *testing.T, account string) *crucible.Task {
	t.Helper()
	ctx := context.Background()
	task := &crucible.Task{AccountID: account, IsOrganic: account != "", Type: crucible.TaskInstruct, Model: "tiny", Dataset: "upload:1", HoursToComplete: 1}
	if err := f.store.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	task.Status = crucible.StatusPreparingData
	if err := f.store.UpdateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	return task
}

// TestDeliveriesSignedAndRetried follows a task's status events to a real
// receiver: each arrives signed, once, in order; a receiver that fails
// twice gets the message on the third attempt after backoff; the log
// records every attempt.
func TestDeliveriesSignedAndRetried(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusBadGateway)
	secret := "whsec_test0123456789"
	rcv.secret, rcv.now = secret, f.clock.now
	h := f.hook(t, rcv.srv.URL+"/hooks", secret)
	n := webhook.New(f.store, webhook.Options{Policy: webhook.Policy{AllowPrivate: true}, Backoff: time.Minute, Now: f.clock.now})
	task := f.task(t, f.acct.ID)
	f.task(t, "") // a synthetic task: nobody to tell

	for i := 0; i < 3; i++ {
		if err := n.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		f.clock.add(time.Duration(1<<i) * time.Minute) // past each backoff: 1, 2 minutes
	}
	if err := n.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	got := rcv.messages()
	if len(got) != 2 || got[0].Type != "task.status" || got[1].Type != "task.status" {
		t.Fatalf("receiver got %+v (refused: %v)", got, rcv.bad)
	}
	// A retried message may arrive after a later one: receivers order
	// messages by their ids (the task events' order), not by arrival.
	sort.Slice(got, func(a, b int) bool { return got[a].ID < got[b].ID })
	var first, second webhook.StatusData
	b, _ := json.Marshal(got[0].Data)
	json.Unmarshal(b, &first)
	b, _ = json.Marshal(got[1].Data)
	json.Unmarshal(b, &second)
	if first.To != crucible.StatusPending || second.From != crucible.StatusPending || second.To != crucible.StatusPreparingData ||
		second.Task.ID != task.ID || second.Task.Status != crucible.StatusPreparingData {
		t.Errorf("messages: %+v (%s) then %+v (%s)", first, got[0].ID, second, got[1].ID)
	}
	log, err := f.store.FindDeliveries(ctx, h.ID, 10)
	if err != nil || len(log) != 2 {
		t.Fatalf("delivery log: %v %+v", err, log)
	}
	attempts := log[0].Attempts + log[1].Attempts
	for _, d := range log {
		if d.State != crucible.DeliveryDelivered || d.DeliveredAt == nil {
			t.Errorf("delivery %+v", d)
		}
	}
	if attempts != 4 { // one message needed three attempts (500, 502, 200), the other one
		t.Errorf("%d attempts in all, want 4", attempts)
	}
	if len(rcv.bad) != 0 {
		t.Errorf("receiver refused signatures: %v", rcv.bad)
	}
	// A further tick sends nothing again.
	n.Tick(ctx)
	if len(rcv.messages()) != 2 {
		t.Errorf("messages sent twice")
	}
}

// TestDeliveryFailsAfterAttempts checks that a receiver that never accepts
// ends its deliveries failed after the attempts, with the last answer kept.
func TestDeliveryFailsAfterAttempts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	rcv := newReceiver(t, 503, 503, 503, 503, 503, 503)
	rcv.secret, rcv.now = "whsec_test0123456789", f.clock.now
	h := f.hook(t, rcv.srv.URL, rcv.secret)
	n := webhook.New(f.store, webhook.Options{Policy: webhook.Policy{AllowPrivate: true}, MaxAttempts: 3, Backoff: time.Second, Now: f.clock.now})
	if _, err := n.Ping(ctx, h); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		n.Tick(ctx)
		f.clock.add(time.Hour)
	}
	log, _ := f.store.FindDeliveries(ctx, h.ID, 10)
	if len(log) != 1 || log[0].State != crucible.DeliveryFailed || log[0].Attempts != 3 || log[0].LastStatus != 503 ||
		!strings.Contains(log[0].LastError, "503") {
		t.Errorf("delivery log: %+v", log)
	}
}

// TestSSRFRefused checks that internal targets are refused when a webhook is
// registered and, for one that got in anyway (or a name that resolves
// inside later), when it is dialed, with nothing delivered.
func TestSSRFRefused(t *testing.T) {
	ctx := context.Background()
	p := webhook.Policy{}
	for _, u := range []string{"http://127.0.0.1:8090/x", "http://localhost/x", "http://api.localhost/x", "http://10.1.2.3/x",
		"http://192.168.0.1/", "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data", "http://[::1]:80/",
		"http://[fd00::1]/", "http://0.0.0.0/", "http://100.64.1.1/", "http://[::ffff:127.0.0.1]/",
		"ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "example.com", "http:///nohost",
		"https://example.com/" + strings.Repeat("a", webhook.MaxURL)} {
		if err := p.CheckURL(ctx, u); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: accepted (%v)", u, err)
		}
	}
	for _, u := range []string{"https://203.0.113.7/hooks", "http://8.8.8.8:8080/x"} {
		if err := p.CheckURL(ctx, u); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
	if err := (webhook.Policy{AllowPrivate: true}).CheckURL(ctx, "http://127.0.0.1:9/x"); err != nil {
		t.Errorf("an operator's opt-in does not allow loopback: %v", err)
	}

	f := newFixture(t)
	rcv := newReceiver(t)
	rcv.secret = "whsec_test0123456789"
	h := f.hook(t, rcv.srv.URL, rcv.secret) // stored directly: the check is the API's
	n := webhook.New(f.store, webhook.Options{Now: f.clock.now})
	n.Ping(ctx, h)
	n.Tick(ctx)
	log, _ := f.store.FindDeliveries(ctx, h.ID, 10)
	if len(log) != 1 || log[0].State != crucible.DeliveryPending || !strings.Contains(log[0].LastError, "internal address") {
		t.Errorf("delivery to loopback without the opt-in: %+v", log)
	}
	if len(rcv.messages()) != 0 {
		t.Error("the loopback receiver was reached")
	}
}

// TestVerify checks the receiver side: a wrong secret, a changed body and
// an old timestamp are refused.
func TestVerify(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"evt_1"}`)
	sig := webhook.Sign("whsec_a", now, body)
	if err := webhook.Verify("whsec_a", sig, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"wrong secret": webhook.Verify("whsec_b", sig, body, now, time.Minute),
		"changed body": webhook.Verify("whsec_a", sig, []byte(`{"id":"evt_2"}`), now, time.Minute),
		"old":          webhook.Verify("whsec_a", sig, body, now.Add(10*time.Minute), time.Minute),
		"malformed":    webhook.Verify("whsec_a", "v1=abc", body, now, time.Minute),
	} {
		if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
			t.Errorf("%s: %v", name, err)
		}
	}
}
