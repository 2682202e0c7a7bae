package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Client is a Go client of the customer API. Errors from the server come
// back as *crucible.Error with the server's code, message and hint.
type Client struct {
	BaseURL string // e.g. http://127.0.0.1:8090
	Key     string // API key secret, sent as a bearer token
	HTTP    *http.Client
}

// NewClient returns a client of the validator at baseURL using key.
func NewClient(baseURL, key string) *Client {
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), Key: key, HTTP: http.DefaultClient}
}

func (c *Client) request(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, body)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "server URL %q", c.BaseURL)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "%s %s", method, c.BaseURL+path).
			WithHint("is the validator running? set --server or CRUCIBLE_SERVER")
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, ResponseError(resp)
	}
	return resp, nil
}

// call sends in as JSON (when not nil) and decodes the answer into out
// (when not nil).
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.request(ctx, method, path, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// UploadDataset uploads a dataset file under name; a dataset with problems
// is refused with EINVALID, its message listing them with line numbers.
func (c *Client) UploadDataset(ctx context.Context, name string, r io.Reader) (*DatasetUpload, error) {
	resp, err := c.request(ctx, "POST", PathDatasets+"?name="+url.QueryEscape(name), r, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var up DatasetUpload
	if err := json.NewDecoder(resp.Body).Decode(&up); err != nil {
		return nil, fmt.Errorf("upload %s: decode answer: %w", name, err)
	}
	return &up, nil
}

// Estimate says what a task would take without creating it.
func (c *Client) Estimate(ctx context.Context, req CreateTaskRequest) (*Estimate, error) {
	var est Estimate
	return &est, c.call(ctx, "POST", PathEstimate, req, &est)
}

// CreateTask creates a task.
func (c *Client) CreateTask(ctx context.Context, req CreateTaskRequest) (*CreatedTask, error) {
	var ct CreatedTask
	return &ct, c.call(ctx, "POST", PathTasks, req, &ct)
}

// Models lists the base models a task may name.
func (c *Client) Models(ctx context.Context) ([]string, error) {
	var ml ModelList
	return ml.Models, c.call(ctx, "GET", PathModels, nil, &ml)
}

// TaskQuery selects tasks in Tasks. Zero fields match all.
type TaskQuery struct {
	Statuses []crucible.TaskStatus
	Type     crucible.TaskType
	Limit    int
	Offset   int
	All      bool // admins: every account's tasks
}

// Tasks lists the caller's tasks, newest first.
func (c *Client) Tasks(ctx context.Context, q TaskQuery) (*TaskList, error) {
	v := url.Values{}
	for _, s := range q.Statuses {
		v.Add("status", string(s))
	}
	if q.Type != "" {
		v.Set("type", string(q.Type))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.All {
		v.Set("all", "1")
	}
	path := PathTasks
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var tl TaskList
	return &tl, c.call(ctx, "GET", path, nil, &tl)
}

func taskPath(id, sub string) string { return PathTasks + "/" + url.PathEscape(id) + sub }

// Task returns one task.
func (c *Client) Task(ctx context.Context, id string) (*crucible.Task, error) {
	var t crucible.Task
	return &t, c.call(ctx, "GET", taskPath(id, ""), nil, &t)
}

// Results returns a task's per-miner breakdown.
func (c *Client) Results(ctx context.Context, id string) (*TaskResults, error) {
	var r TaskResults
	return &r, c.call(ctx, "GET", taskPath(id, TaskResultsPath), nil, &r)
}

// Events returns a task's events after the event with id after.
func (c *Client) Events(ctx context.Context, id string, after int64) ([]*crucible.TaskEvent, error) {
	var evs []*crucible.TaskEvent
	return evs, c.call(ctx, "GET", taskPath(id, TaskEventsPath)+"?after="+strconv.FormatInt(after, 10), nil, &evs)
}

// Watch follows a task's live event stream from after, calling fn for each
// event, until the task finishes (it returns the final status), fn returns
// an error, or ctx ends. A dropped connection is resumed where it broke.
func (c *Client) Watch(ctx context.Context, id string, after int64, fn func(*crucible.TaskEvent) error) (crucible.TaskStatus, error) {
	return watchStream[crucible.TaskStatus](ctx, c, "task", id, taskPath(id, TaskEventsPath), after,
		func(e *crucible.TaskEvent) int64 { return e.ID }, fn)
}

// Download writes the winner of a task, as a tar (format "tar" or "") or
// gzipped tar ("tar.gz"), to w and returns the bytes written.
func (c *Client) Download(ctx context.Context, id, format string, w io.Writer) (int64, error) {
	return c.DownloadWinner(ctx, id, DownloadOptions{Format: format}, w)
}

// DownloadOptions choose the form of a downloaded winner.
type DownloadOptions struct {
	Format string // "tar" (the default) or "tar.gz"
	Merged bool   // an adapter merged into its base as a full model
}

// DownloadWinner writes a task's winner to w as an archive with one
// top-level folder and returns the bytes written.
func (c *Client) DownloadWinner(ctx context.Context, id string, opt DownloadOptions, w io.Writer) (int64, error) {
	q := url.Values{}
	if opt.Format != "" {
		q.Set("format", opt.Format)
	}
	if opt.Merged {
		q.Set("merged", "true")
	}
	path := taskPath(id, TaskDownloadPath)
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.request(ctx, "GET", path, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("download task %s: %w", id, err)
	}
	return n, nil
}

// Cancel cancels a task and returns it.
func (c *Client) Cancel(ctx context.Context, id string) (*crucible.Task, error) {
	var t crucible.Task
	return &t, c.call(ctx, "POST", taskPath(id, TaskCancelPath), nil, &t)
}

// Network returns the network's headline counters.
func (c *Client) Network(ctx context.Context) (*NetworkStatus, error) {
	var st NetworkStatus
	return &st, c.call(ctx, "GET", PathNetwork, nil, &st)
}

// Miners returns the leaderboard over the last days.
func (c *Client) Miners(ctx context.Context, days int) ([]*MinerStanding, error) {
	var ms []*MinerStanding
	return ms, c.call(ctx, "GET", PathMiners+"?days="+strconv.Itoa(days), nil, &ms)
}

// CreateKey creates an API key; its secret is in the answer only.
func (c *Client) CreateKey(ctx context.Context, req CreateKeyRequest) (*CreatedKey, error) {
	var ck CreatedKey
	return &ck, c.call(ctx, "POST", PathKeys, req, &ck)
}

// Keys lists the caller's API keys (admins: account's, when not empty).
func (c *Client) Keys(ctx context.Context, account string) ([]*crucible.APIKey, error) {
	path := PathKeys
	if account != "" {
		path += "?account=" + url.QueryEscape(account)
	}
	var ks []*crucible.APIKey
	return ks, c.call(ctx, "GET", path, nil, &ks)
}

// RevokeKey revokes an API key by id.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.call(ctx, "DELETE", PathKeys+"/"+url.PathEscape(id), nil, nil)
}

// CreateWebhook registers an endpoint for the account's task events; the
// secret it returns is shown only now.
func (c *Client) CreateWebhook(ctx context.Context, url string) (*CreatedWebhook, error) {
	var cw CreatedWebhook
	return &cw, c.call(ctx, "POST", PathWebhooks, CreateWebhookRequest{URL: url}, &cw)
}

// Webhooks lists the account's webhooks.
func (c *Client) Webhooks(ctx context.Context) ([]*crucible.Webhook, error) {
	var hs []*crucible.Webhook
	return hs, c.call(ctx, "GET", PathWebhooks, nil, &hs)
}

// DeleteWebhook removes a webhook and its delivery log.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.call(ctx, "DELETE", PathWebhooks+"/"+url.PathEscape(id), nil, nil)
}

// WebhookDeliveries returns a webhook's delivery log, newest first.
func (c *Client) WebhookDeliveries(ctx context.Context, id string, limit int) ([]*crucible.WebhookDelivery, error) {
	var ds []*crucible.WebhookDelivery
	return ds, c.call(ctx, "GET", fmt.Sprintf("%s/%s/deliveries?limit=%d", PathWebhooks, url.PathEscape(id), limit), nil, &ds)
}

// PingWebhook queues a test message to a webhook.
func (c *Client) PingWebhook(ctx context.Context, id string) (*crucible.WebhookDelivery, error) {
	var d crucible.WebhookDelivery
	return &d, c.call(ctx, "POST", PathWebhooks+"/"+url.PathEscape(id)+"/ping", nil, &d)
}

// Balance returns the caller's account with its credit.
func (c *Client) Balance(ctx context.Context) (*AccountBalance, error) {
	var b AccountBalance
	return &b, c.call(ctx, "GET", PathAccount, nil, &b)
}

// SetCredit sets an account's credit limit (admins).
func (c *Client) SetCredit(ctx context.Context, accountID string, limit float64) (*AccountBalance, error) {
	var b AccountBalance
	return &b, c.call(ctx, "PUT", PathAccounts+"/"+url.PathEscape(accountID)+"/credit", SetCreditRequest{CreditLimit: limit}, &b)
}
