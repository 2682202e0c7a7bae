package crucible

import (
	"context"
	"encoding/json"
	"time"
)

// Webhook is an endpoint of a customer's that a validator tells about the
// account's tasks: every status change, as a JSON POST signed with the
// webhook's secret (HMAC-SHA256), retried with backoff until it is
// accepted or the attempts run out.
type Webhook struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	URL       string    `json:"url"`
	Secret    string    `json:"-"`      // the HMAC key; shown once, at creation
	Prefix    string    `json:"prefix"` // the secret's first characters, to tell secrets apart
	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt
	DeliveryDelivered = "delivered" // the endpoint answered 2xx
	DeliveryFailed    = "failed"    // every attempt failed
)

// WebhookDelivery is one message to one webhook and its attempts: the
// delivery log a customer reads.
type WebhookDelivery struct {
	ID          string          `json:"id"`
	WebhookID   string          `json:"webhook_id"`
	AccountID   string          `json:"account_id"`
	EventID     int64           `json:"event_id"` // the task event it tells of; 0 for a test message
	TaskID      string          `json:"task_id,omitempty"`
	Type        string          `json:"type"`    // "task.status", "ping"
	Payload     json.RawMessage `json:"payload"` // the JSON body sent
	State       string          `json:"state"`   // DeliveryPending, DeliveryDelivered, DeliveryFailed
	Attempts    int             `json:"attempts"`
	LastStatus  int             `json:"last_status,omitempty"` // HTTP status of the last attempt; 0 when none came
	LastError   string          `json:"last_error,omitempty"`
	NextAt      time.Time       `json:"next_attempt_at"`
	CreatedAt   time.Time       `json:"created_at"`
	DeliveredAt *time.Time      `json:"delivered_at,omitempty"`
}

// WebhookService stores webhooks and their delivery log.
type WebhookService interface {
	// CreateWebhook stores w and fills in its ID and CreatedAt. Returns
	// EINVALID without an account, URL or secret, ENOTFOUND for an unknown
	// account.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// FindWebhooks returns an account's webhooks (every account's for ""),
	// oldest first.
	FindWebhooks(ctx context.Context, accountID string) ([]*Webhook, error)
	// FindWebhook returns one webhook. Returns ENOTFOUND.
	FindWebhook(ctx context.Context, id string) (*Webhook, error)
	// DeleteWebhook removes a webhook and its delivery log. Returns ENOTFOUND.
	DeleteWebhook(ctx context.Context, id string) error
	// CreateDelivery queues a delivery (filling in its ID and CreatedAt); a
	// second delivery of one event to one webhook is ECONFLICT.
	CreateDelivery(ctx context.Context, d *WebhookDelivery) error
	// UpdateDelivery saves a delivery's state, attempts and times. Returns
	// ENOTFOUND.
	UpdateDelivery(ctx context.Context, d *WebhookDelivery) error
	// DueDeliveries returns up to limit pending deliveries whose next
	// attempt is at or before now, oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*WebhookDelivery, error)
	// FindDeliveries returns a webhook's latest deliveries, newest first.
	FindDeliveries(ctx context.Context, webhookID string, limit int) ([]*WebhookDelivery, error)
	// WebhookCursor returns the last task event the webhooks were told of
	// (0 before any); SetWebhookCursor moves it.
	WebhookCursor(ctx context.Context) (int64, error)
	SetWebhookCursor(ctx context.Context, eventID int64) error
}
