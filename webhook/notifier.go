package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Store is what the notifier reads and writes.
type Store interface {
	crucible.WebhookService
	crucible.EventService
	FindTask(ctx context.Context, id string) (*crucible.Task, error)
}

// Options configure a Notifier. The zero value is usable.
type Options struct {
	Policy Policy
	// Poll is how often new task events and due deliveries are looked
	// for. Defaults to 1 s.
	Poll time.Duration
	// MaxAttempts is how many times a delivery is tried before it fails.
	// Defaults to 8.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; it doubles after
	// each one, up to an hour. Defaults to 10 s.
	Backoff time.Duration
	// Timeout bounds one attempt. Defaults to 10 s.
	Timeout time.Duration
	Log     *slog.Logger
	Now     func() time.Time
}

// Notifier turns task events into deliveries and sends them.
type Notifier struct {
	s      Store
	opt    Options
	client *http.Client
}

// New returns a notifier on s.
func New(s Store, opt Options) *Notifier {
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 8
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 10 * time.Second
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Notifier{s: s, opt: opt, client: opt.Policy.Client(opt.Timeout)}
}

// Run dispatches and sends until ctx ends.
func (n *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(n.opt.Poll)
	defer t.Stop()
	for {
		if err := n.Tick(ctx); err != nil && ctx.Err() == nil {
			n.opt.Log.Warn("webhooks", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Tick queues deliveries for the task events since the last tick, then
// makes the attempts that are due.
func (n *Notifier) Tick(ctx context.Context) error {
	if err := n.dispatch(ctx); err != nil {
		return err
	}
	return n.send(ctx)
}

// Message is the JSON body of a delivery.
type Message struct {
	ID        string    `json:"id"`   // unique per message: "evt_EVENTID" or "ping_ID"
	Type      string    `json:"type"` // "task.status" or "ping"
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// StatusData is a task.status message's data: the change and the task as
// it is now.
type StatusData struct {
	From    crucible.TaskStatus `json:"from_status,omitempty"`
	To      crucible.TaskStatus `json:"to_status"`
	Message string              `json:"message,omitempty"`
	Task    *crucible.Task      `json:"task"`
}

// dispatch queues one delivery per status event of a customer's task and
// webhook of its account (webhooks hear of events after their creation).
func (n *Notifier) dispatch(ctx context.Context) error {
	cursor, err := n.s.WebhookCursor(ctx)
	if err != nil {
		return err
	}
	events, err := n.s.FindEvents(ctx, crucible.EventFilter{AfterID: cursor, Kind: crucible.EventStatus, Limit: 500})
	if err != nil || len(events) == 0 {
		return err
	}
	hooks := map[string][]*crucible.Webhook{}
	for _, e := range events {
		t, err := n.s.FindTask(ctx, e.TaskID)
		if err != nil {
			return err
		}
		if t.AccountID == "" {
			continue
		}
		hs, ok := hooks[t.AccountID]
		if !ok {
			if hs, err = n.s.FindWebhooks(ctx, t.AccountID); err != nil {
				return err
			}
			hooks[t.AccountID] = hs
		}
		for _, h := range hs {
			if h.Disabled || h.CreatedAt.After(e.CreatedAt) {
				continue
			}
			body, err := json.Marshal(Message{ID: "evt_" + strconv.FormatInt(e.ID, 10), Type: "task.status", CreatedAt: e.CreatedAt,
				Data: StatusData{From: e.FromStatus, To: e.ToStatus, Message: e.Message, Task: t}})
			if err != nil {
				return err
			}
			d := &crucible.WebhookDelivery{WebhookID: h.ID, AccountID: h.AccountID, EventID: e.ID, TaskID: t.ID, Type: "task.status", Payload: body}
			if err := n.s.CreateDelivery(ctx, d); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
				return err
			}
		}
	}
	return n.s.SetWebhookCursor(ctx, events[len(events)-1].ID)
}

// Ping queues a test message to h, sent at the next tick.
func (n *Notifier) Ping(ctx context.Context, h *crucible.Webhook) (*crucible.WebhookDelivery, error) {
	now := n.opt.Now()
	body, err := json.Marshal(Message{ID: fmt.Sprintf("ping_%d", now.UnixNano()), Type: "ping", CreatedAt: now,
		Data: map[string]string{"webhook_id": h.ID, "message": "a test message from crucible"}})
	if err != nil {
		return nil, err
	}
	d := &crucible.WebhookDelivery{WebhookID: h.ID, AccountID: h.AccountID, Type: "ping", Payload: body, NextAt: now}
	return d, n.s.CreateDelivery(ctx, d)
}

// send makes the attempts that are due.
func (n *Notifier) send(ctx context.Context) error {
	due, err := n.s.DueDeliveries(ctx, n.opt.Now(), 50)
	if err != nil {
		return err
	}
	for _, d := range due {
		if ctx.Err() != nil {
			return nil
		}
		h, err := n.s.FindWebhook(ctx, d.WebhookID)
		if crucible.ErrorCode(err) == crucible.ENOTFOUND {
			continue // deleted with its log
		}
		if err != nil {
			return err
		}
		n.attempt(ctx, h, d)
		if err := n.s.UpdateDelivery(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// attempt sends d once and records the outcome in it.
func (n *Notifier) attempt(ctx context.Context, h *crucible.Webhook, d *crucible.WebhookDelivery) {
	d.Attempts++
	now := n.opt.Now()
	status, err := n.post(ctx, h, d, now)
	d.LastStatus, d.LastError = status, ""
	switch {
	case err == nil && status >= 200 && status < 300:
		d.State, d.DeliveredAt = crucible.DeliveryDelivered, &now
		return
	case err != nil:
		d.LastError = describe(err)
	default:
		d.LastError = fmt.Sprintf("the endpoint answered %d %s", status, http.StatusText(status))
	}
	if d.Attempts >= n.opt.MaxAttempts {
		d.State = crucible.DeliveryFailed
		n.opt.Log.Warn("webhook delivery failed", "webhook", h.ID, "delivery", d.ID, "attempts", d.Attempts, "err", d.LastError)
		return
	}
	wait := n.opt.Backoff << min(d.Attempts-1, 20)
	if wait > time.Hour || wait <= 0 {
		wait = time.Hour
	}
	d.NextAt = now.Add(wait)
}

// post sends the delivery and returns the endpoint's status.
func (n *Notifier) post(ctx context.Context, h *crucible.Webhook, d *crucible.WebhookDelivery, now time.Time) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, n.opt.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crucible-webhooks")
	req.Header.Set(EventHeader, d.Type)
	req.Header.Set(DeliveryHeader, d.ID)
	req.Header.Set(SignatureHeader, Sign(h.Secret, now, d.Payload))
	resp, err := n.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// describe says why an attempt got no answer, without the request line the
// HTTP client puts before its errors.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "internal address"):
		return "refused: the URL leads to an internal address"
	case strings.Contains(msg, "connection refused"):
		return "connection refused: nothing listens at the URL's address"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout"):
		return "no answer in time"
	case strings.Contains(msg, "no such host"):
		return "the URL's host does not resolve"
	}
	return msg
}
