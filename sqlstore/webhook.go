package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

const webhookColumns = "id, account_id, url, secret, prefix, disabled, created_at"

// CreateWebhook stores w and fills in its ID and CreatedAt. Returns
// EINVALID without an account, URL or secret, ENOTFOUND for an unknown
// account.
func (s *Store) CreateWebhook(ctx context.Context, w *crucible.Webhook) error {
	if w.AccountID == "" || w.URL == "" || w.Secret == "" {
		return crucible.Errorf(crucible.EINVALID, "a webhook needs an account, a URL and a secret")
	}
	if _, err := s.FindAccount(ctx, w.AccountID); err != nil {
		return err
	}
	c := *w
	c.ID, c.CreatedAt = newID(), norm(s.now())
	if _, err := s.exec(ctx, "INSERT INTO webhooks ("+webhookColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.AccountID, c.URL, c.Secret, c.Prefix, c.Disabled, s.timeArg(c.CreatedAt)); err != nil {
		return mapErr(err, "create webhook")
	}
	*w = c
	return nil
}

func scanWebhook(r rowScanner) (*crucible.Webhook, error) {
	var (
		w        crucible.Webhook
		disabled boolScan
		created  timeScan
	)
	if err := r.Scan(&w.ID, &w.AccountID, &w.URL, &w.Secret, &w.Prefix, &disabled, &created); err != nil {
		return nil, err
	}
	w.Disabled, w.CreatedAt = bool(disabled), created.t
	return &w, nil
}

// FindWebhooks returns an account's webhooks (every account's for ""),
// oldest first.
func (s *Store) FindWebhooks(ctx context.Context, accountID string) ([]*crucible.Webhook, error) {
	q, args := "SELECT "+webhookColumns+" FROM webhooks", []any{}
	if accountID != "" {
		q, args = q+" WHERE account_id = ?", append(args, accountID)
	}
	rows, err := s.query(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, mapErr(err, "find webhooks")
	}
	defer rows.Close()
	var out []*crucible.Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, mapErr(err, "find webhooks")
		}
		out = append(out, w)
	}
	return out, mapErr(rows.Err(), "find webhooks")
}

// FindWebhook returns one webhook. Returns ENOTFOUND.
func (s *Store) FindWebhook(ctx context.Context, id string) (*crucible.Webhook, error) {
	w, err := scanWebhook(s.queryRow(ctx, "SELECT "+webhookColumns+" FROM webhooks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "webhook %q not found", id)
	}
	return w, mapErr(err, "find webhook")
}

// DeleteWebhook removes a webhook and its delivery log. Returns ENOTFOUND.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.WithTx(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, "DELETE FROM webhook_deliveries WHERE webhook_id = ?", id); err != nil {
			return mapErr(err, "delete webhook")
		}
		res, err := tx.exec(ctx, "DELETE FROM webhooks WHERE id = ?", id)
		if err != nil {
			return mapErr(err, "delete webhook")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return crucible.Errorf(crucible.ENOTFOUND, "webhook %q not found", id)
		}
		return nil
	})
}

const deliveryColumns = `id, webhook_id, account_id, event_id, task_id, type, payload, state, attempts, last_status,
	last_error, next_at, created_at, delivered_at`

// CreateDelivery queues a delivery, filling in its ID and CreatedAt (and
// NextAt, when zero, with now); a second delivery of one event to one
// webhook is ECONFLICT.
func (s *Store) CreateDelivery(ctx context.Context, d *crucible.WebhookDelivery) error {
	c := *d
	c.ID, c.CreatedAt = newID(), norm(s.now())
	if c.State == "" {
		c.State = crucible.DeliveryPending
	}
	if c.NextAt.IsZero() {
		c.NextAt = c.CreatedAt
	}
	c.NextAt = norm(c.NextAt)
	if _, err := s.exec(ctx, "INSERT INTO webhook_deliveries ("+deliveryColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.WebhookID, c.AccountID, c.EventID, c.TaskID, c.Type, string(c.Payload), c.State, c.Attempts, c.LastStatus,
		c.LastError, s.timeArg(c.NextAt), s.timeArg(c.CreatedAt), s.timePtrArg(c.DeliveredAt)); err != nil {
		return mapErr(err, "queue webhook delivery")
	}
	*d = c
	return nil
}

// UpdateDelivery saves a delivery's state, attempts, last answer and times.
// Returns ENOTFOUND.
func (s *Store) UpdateDelivery(ctx context.Context, d *crucible.WebhookDelivery) error {
	res, err := s.exec(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = ?, last_status = ?, last_error = ?, next_at = ?,
		delivered_at = ? WHERE id = ?`, d.State, d.Attempts, d.LastStatus, d.LastError, s.timeArg(d.NextAt), s.timePtrArg(d.DeliveredAt), d.ID)
	if err != nil {
		return mapErr(err, "update webhook delivery")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return crucible.Errorf(crucible.ENOTFOUND, "webhook delivery %q not found", d.ID)
	}
	return nil
}

func scanDelivery(r rowScanner) (*crucible.WebhookDelivery, error) {
	var (
		d                        crucible.WebhookDelivery
		payload                  string
		next, created, delivered timeScan
	)
	if err := r.Scan(&d.ID, &d.WebhookID, &d.AccountID, &d.EventID, &d.TaskID, &d.Type, &payload, &d.State, &d.Attempts,
		&d.LastStatus, &d.LastError, &next, &created, &delivered); err != nil {
		return nil, err
	}
	d.Payload, d.NextAt, d.CreatedAt, d.DeliveredAt = []byte(payload), next.t, created.t, delivered.ptr()
	return &d, nil
}

func (s *Store) deliveries(ctx context.Context, q string, args ...any) ([]*crucible.WebhookDelivery, error) {
	rows, err := s.query(ctx, "SELECT "+deliveryColumns+" FROM webhook_deliveries "+q, args...)
	if err != nil {
		return nil, mapErr(err, "find webhook deliveries")
	}
	defer rows.Close()
	var out []*crucible.WebhookDelivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, mapErr(err, "find webhook deliveries")
		}
		out = append(out, d)
	}
	return out, mapErr(rows.Err(), "find webhook deliveries")
}

// DueDeliveries returns up to limit pending deliveries whose next attempt
// is at or before now, oldest first.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]*crucible.WebhookDelivery, error) {
	return s.deliveries(ctx, "WHERE state = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?", crucible.DeliveryPending, s.timeArg(now), limit)
}

// FindDeliveries returns a webhook's latest deliveries, newest first.
func (s *Store) FindDeliveries(ctx context.Context, webhookID string, limit int) ([]*crucible.WebhookDelivery, error) {
	return s.deliveries(ctx, "WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?", webhookID, limit)
}

// WebhookCursor returns the last task event the webhooks were told of.
func (s *Store) WebhookCursor(ctx context.Context) (int64, error) {
	var id int64
	err := s.queryRow(ctx, "SELECT event_id FROM webhook_cursor WHERE id = 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, mapErr(err, "webhook cursor")
}

// SetWebhookCursor moves the cursor to eventID.
func (s *Store) SetWebhookCursor(ctx context.Context, eventID int64) error {
	_, err := s.exec(ctx, `INSERT INTO webhook_cursor (id, event_id) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET event_id = excluded.event_id`, eventID)
	return mapErr(err, "set webhook cursor")
}
