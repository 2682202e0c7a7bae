package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// webhooker is the part of a Backend that vets webhook URLs and sends test
// messages (optional: without it the webhook routes refuse).
type webhooker interface {
	// CheckWebhookURL refuses (EINVALID) a URL the validator will not
	// deliver to: not http(s), or an internal address.
	CheckWebhookURL(ctx context.Context, url string) error
	// PingWebhook queues a test message to h.
	PingWebhook(ctx context.Context, h *crucible.Webhook) (*crucible.WebhookDelivery, error)
}

// maxWebhooks is how many webhooks an account may have.
const maxWebhooks = 10

func (s *Server) webhooker() (webhooker, error) {
	if w, ok := s.b.(webhooker); ok {
		return w, nil
	}
	return nil, crucible.Errorf(crucible.ENOTFOUND, "this validator sends no webhooks")
}

// newWebhookSecret returns a webhook signing secret.
func newWebhookSecret() string { return "whsec_" + strings.TrimPrefix(newSecret(), keyPrefix) }

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	wh, err := s.webhooker()
	if err != nil {
		return err
	}
	var req api.CreateWebhookRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	h, secret, err := s.addWebhook(r.Context(), wh, c.account.ID, strings.TrimSpace(req.URL))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, api.CreatedWebhook{Webhook: h, Secret: secret})
	return nil
}

// addWebhook checks url and the account's count, and stores a webhook with
// a new secret.
func (s *Server) addWebhook(ctx context.Context, wh webhooker, account, url string) (*crucible.Webhook, string, error) {
	if err := wh.CheckWebhookURL(ctx, url); err != nil {
		return nil, "", err
	}
	hooks, err := s.b.FindWebhooks(ctx, account)
	if err != nil {
		return nil, "", err
	}
	if len(hooks) >= maxWebhooks {
		return nil, "", crucible.Errorf(crucible.ECONFLICT, "an account has at most %d webhooks", maxWebhooks).
			WithHint("delete one first: DELETE /v1/webhooks/{id}")
	}
	secret := newWebhookSecret()
	h := &crucible.Webhook{AccountID: account, URL: url, Secret: secret, Prefix: secret[:12]}
	if err := s.b.CreateWebhook(ctx, h); err != nil {
		return nil, "", err
	}
	return h, secret, nil
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c *caller) error {
	hooks, err := s.b.FindWebhooks(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(hooks))
	return nil
}

// ownWebhook returns the caller's webhook id; another account's is
// ENOTFOUND, as if it did not exist (admins included: a webhook's
// messages are its account's business).
func (s *Server) ownWebhook(ctx context.Context, c *caller, id string) (*crucible.Webhook, error) {
	h, err := s.b.FindWebhook(ctx, id)
	if err == nil && h.AccountID != c.account.ID {
		err = crucible.Errorf(crucible.ENOTFOUND, "webhook %q not found", id)
	}
	return h, err
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownWebhook(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.b.DeleteWebhook(r.Context(), h.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) webhookDeliveries(w http.ResponseWriter, r *http.Request, c *caller) error {
	h, err := s.ownWebhook(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	limit, err := intParam(r.URL.Query().Get("limit"), 50, 1, 500)
	if err != nil {
		return err
	}
	log, err := s.b.FindDeliveries(r.Context(), h.ID, limit)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(log))
	return nil
}

func (s *Server) pingWebhook(w http.ResponseWriter, r *http.Request, c *caller) error {
	wh, err := s.webhooker()
	if err != nil {
		return err
	}
	h, err := s.ownWebhook(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	d, err := wh.PingWebhook(r.Context(), h)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, d)
	return nil
}
