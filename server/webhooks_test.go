package server

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

	"github.com/chromedp/chromedp"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/server/browsertest"
	"github.com/crucible-net/crucible/webhook"
)

// The test backend vets URLs with the real policy (loopback allowed when
// the test opts in) and pings through the real notifier.
func (b *testBackend) CheckWebhookURL(ctx context.Context, url string) error {
	return webhook.Policy{AllowPrivate: b.allowPrivate}.CheckURL(ctx, url)
}

func (b *testBackend) PingWebhook(ctx context.Context, h *crucible.Webhook) (*crucible.WebhookDelivery, error) {
	return webhook.New(b.Store, webhook.Options{}).Ping(ctx, h)
}

// TestWebhooksAPI registers a webhook for a real local receiver (the test
// opts in to loopback targets), pings it, follows a task's status changes
// to it, and reads the delivery log; the secret is shown once.
func TestWebhooksAPI(t *testing.T) {
	e := newEnv(t, Options{})
	e.b.allowPrivate = true
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

	var created api.CreatedWebhook
	e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: rcv.URL + "/crucible"}, http.StatusCreated, &created)
	mu.Lock()
	secret = created.Secret
	mu.Unlock()
	if !strings.HasPrefix(created.Secret, "whsec_") || created.Webhook.Prefix != created.Secret[:12] {
		t.Fatalf("created %+v", created)
	}
	list := string(e.do(e.customer, "GET", api.PathWebhooks, nil, http.StatusOK, nil))
	if strings.Contains(list, created.Secret) || !strings.Contains(list, created.Webhook.ID) {
		t.Errorf("list shows the secret or not the webhook: %s", list)
	}
	e.do(e.customer, "POST", api.PathWebhooks+"/"+created.Webhook.ID+"/ping", nil, http.StatusAccepted, nil)
	task := e.createTask(e.customer, true)
	e.simulate(task.ID)

	n := webhook.New(e.b.Store, webhook.Options{Policy: webhook.Policy{AllowPrivate: true}})
	waitFor(t, "the task's success at the receiver", func() bool {
		n.Tick(context.Background())
		mu.Lock()
		defer mu.Unlock()
		for _, m := range got {
			if b, _ := json.Marshal(m.Data); m.Type == "task.status" && strings.Contains(string(b), `"to_status":"success"`) {
				return true
			}
		}
		return false
	})
	var log []*crucible.WebhookDelivery
	e.do(e.customer, "GET", api.PathWebhooks+"/"+created.Webhook.ID+"/deliveries", nil, http.StatusOK, &log)
	if len(log) < 3 || log[len(log)-1].Type != "ping" {
		t.Fatalf("delivery log: %d entries", len(log))
	}
	for _, d := range log {
		if d.State != crucible.DeliveryDelivered || d.Attempts != 1 || d.LastStatus != 200 || !json.Valid(d.Payload) {
			t.Errorf("delivery %+v", d)
		}
	}
	e.do(e.customer, "DELETE", api.PathWebhooks+"/"+created.Webhook.ID, nil, http.StatusNoContent, nil)
	e.do(e.customer, "GET", api.PathWebhooks+"/"+created.Webhook.ID+"/deliveries", nil, http.StatusNotFound, nil)
}

// TestWebhookAttacks: internal targets (without the opt-in), URLs that are
// not http(s), another account's webhook, too many webhooks, oversized
// bodies; each refused, with nothing stored.
func TestWebhookAttacks(t *testing.T) {
	e := newEnv(t, Options{})
	for _, u := range []string{"http://127.0.0.1:8090/v1/keys", "http://localhost:22/", "http://169.254.169.254/latest/meta-data/",
		"http://[::1]/", "http://10.0.0.1/", "gopher://example.com/", "javascript:alert(1)", "http://u:p@example.com/", ""} {
		e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: u}, http.StatusBadRequest, nil)
	}
	var hooks []*crucible.Webhook
	e.do(e.customer, "GET", api.PathWebhooks, nil, http.StatusOK, &hooks)
	if len(hooks) != 0 {
		t.Fatalf("refused webhooks were stored: %+v", hooks)
	}
	huge := strings.Repeat("x", 2<<20)
	resp := e.raw(e.customer, "POST", api.PathWebhooks, strings.NewReader(`{"url":"https://203.0.113.9/`+huge+`"}`), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge && resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oversized body: %d", resp.StatusCode)
	}

	var mine api.CreatedWebhook
	e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: "https://203.0.113.9/hook"}, http.StatusCreated, &mine)
	for _, path := range []string{"/deliveries", "/ping"} {
		method := map[string]string{"/deliveries": "GET", "/ping": "POST"}[path]
		e.do(e.other, method, api.PathWebhooks+"/"+mine.Webhook.ID+path, nil, http.StatusNotFound, nil)
		e.do(e.admin, method, api.PathWebhooks+"/"+mine.Webhook.ID+path, nil, http.StatusNotFound, nil)
	}
	e.do(e.other, "DELETE", api.PathWebhooks+"/"+mine.Webhook.ID, nil, http.StatusNotFound, nil)
	e.do(e.customer, "GET", api.PathWebhooks+"/"+mine.Webhook.ID+"/deliveries", nil, http.StatusOK, nil) // still there
	e.do("", "GET", api.PathWebhooks, nil, http.StatusUnauthorized, nil)

	for i := 1; i < maxWebhooks; i++ {
		e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: "https://203.0.113.9/hook"}, http.StatusCreated, nil)
	}
	e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: "https://203.0.113.9/hook"}, http.StatusConflict, nil)
	e.do(e.other, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: "https://203.0.113.9/hook"}, http.StatusCreated, nil)
}

// TestPagesAtDesktopAndPhone shows the dashboard's pages, the new webhooks
// page included (adding a webhook through its form), at desktop and phone
// widths: nothing may be wider than the screen. Screenshots go to
// $CRUCIBLE_TEST_ARTIFACTS.
func TestPagesAtDesktopAndPhone(t *testing.T) {
	if browsertest.Chromium() == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	e := newEnv(t, Options{})
	e.b.allowPrivate = true
	task := e.createTask(e.customer, false)
	e.simulate(task.ID)
	var created api.CreatedWebhook
	e.do(e.customer, "POST", api.PathWebhooks, api.CreateWebhookRequest{URL: "http://127.0.0.1:9/a-rather-long-path/that/goes/on/and/on/crucible-hook?token=abcdef0123456789"}, http.StatusCreated, &created)
	e.do(e.customer, "POST", api.PathWebhooks+"/"+created.Webhook.ID+"/ping", nil, http.StatusAccepted, nil)
	webhook.New(e.b.Store, webhook.Options{Policy: webhook.Policy{AllowPrivate: true}, Timeout: time.Second}).Tick(context.Background())
	shots := browsertest.LookAt(t, e.ts.URL, e.customer, "pages-", []browsertest.Page{
		{Name: "network", Path: "/", WaitFor: "#count-tasks"},
		{Name: "tasks", Path: "/tasks", WaitFor: "table.grid"},
		{Name: "task", Path: "/tasks/" + task.ID, WaitFor: "#status"},
		{Name: "webhooks", Path: "/webhooks", WaitFor: "table.deliveries",
			Actions: []chromedp.Action[chromedp.Void]{
				chromedp.SendKeys(chromedp.CSS(`input[name="url"]`), "http://127.0.0.1:9/second"),
				chromedp.Click(chromedp.ID("add-webhook")),
			}, Then: "#new-secret"},
		{Name: "keys", Path: "/keys", WaitFor: "#keys"},
	})
	if len(shots) != 10 {
		t.Errorf("%d screenshots", len(shots))
	}
	var hooks []*crucible.Webhook
	e.do(e.customer, "GET", api.PathWebhooks, nil, http.StatusOK, &hooks)
	if len(hooks) != 3 { // one through the API, one per width through the form
		t.Errorf("%d webhooks after adding through the form at two widths", len(hooks))
	}
}

// TestTestSetAndHintsRefusals: a test set that is not an upload, another
// account's upload, the dataset itself; hints out of range. Each refused,
// no task stored.
func TestTestSetAndHintsRefusals(t *testing.T) {
	e := newEnv(t, Options{})
	var mine, theirs api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &mine)
	e.upload(e.other, "instruct.jsonl", http.StatusCreated, &theirs)
	no := false
	for _, tc := range []struct {
		req  api.CreateTaskRequest
		want int
	}{
		{api.CreateTaskRequest{TestDataset: "/etc/passwd"}, http.StatusBadRequest},
		{api.CreateTaskRequest{TestDataset: "hf:org/name"}, http.StatusBadRequest},
		{api.CreateTaskRequest{TestDataset: theirs.Ref()}, http.StatusNotFound},
		{api.CreateTaskRequest{TestDataset: mine.Ref()}, http.StatusBadRequest}, // the dataset itself
		{api.CreateTaskRequest{Hints: &crucible.Hints{LR: 5}}, http.StatusBadRequest},
		{api.CreateTaskRequest{Hints: &crucible.Hints{LoRA: &no, LoRARank: 8}}, http.StatusBadRequest},
		{api.CreateTaskRequest{Hints: &crucible.Hints{BatchSize: -1}}, http.StatusBadRequest},
	} {
		tc.req.Model, tc.req.Dataset = "tiny-llama", mine.Ref()
		e.do(e.customer, "POST", api.PathTasks, tc.req, tc.want, nil)
		e.do(e.customer, "POST", api.PathEstimate, tc.req, tc.want, nil)
	}
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if list.Total != 0 {
		t.Errorf("refused requests stored %d tasks", list.Total)
	}
	// A proper one is kept with its test set and hints.
	var own api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &own)
	var created api.CreatedTask
	e.do(e.customer, "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-llama", Dataset: mine.Ref(), TestDataset: own.Ref(),
		Hints: &crucible.Hints{Epochs: 2}}, http.StatusCreated, &created)
	if created.Task.TestDataset != own.Ref() || created.Task.Hints == nil || created.Task.Hints.Epochs != 2 {
		t.Errorf("created task: %+v", created.Task)
	}
}
