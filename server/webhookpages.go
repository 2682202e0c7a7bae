package server

import (
	"net/http"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// webhookRow is one webhook on the dashboard with its latest deliveries.
type webhookRow struct {
	*crucible.Webhook
	Deliveries []*crucible.WebhookDelivery
}

// webhooksPage lists the account's webhooks, each with its delivery log.
func (s *Server) webhooksPage(w http.ResponseWriter, r *http.Request) {
	s.renderWebhooks(w, r, nil, "")
}

func (s *Server) renderWebhooks(w http.ResponseWriter, r *http.Request, created *crucible.Webhook, secret string) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	hooks, err := s.b.FindWebhooks(r.Context(), c.account.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	rows := make([]webhookRow, 0, len(hooks))
	for _, h := range hooks {
		log, err := s.b.FindDeliveries(r.Context(), h.ID, 10)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		rows = append(rows, webhookRow{Webhook: h, Deliveries: log})
	}
	_, can := s.b.(webhooker)
	s.render(w, r, http.StatusOK, "webhooks", view{Title: "Webhooks", Nav: "webhooks",
		Page: map[string]any{"Hooks": rows, "Created": created, "Secret": secret, "Enabled": can, "Max": maxWebhooks}})
}

// createWebhookForm registers a webhook and shows its secret once.
func (s *Server) createWebhookForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	wh, err := s.webhooker()
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	h, secret, err := s.addWebhook(r.Context(), wh, c.account.ID, strings.TrimSpace(r.PostFormValue("url")))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.renderWebhooks(w, r, h, secret)
}

// webhookForm runs act on one of the logged-in account's webhooks, then
// shows the webhooks again.
func (s *Server) webhookForm(act func(r *http.Request, h *crucible.Webhook) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.mustLogin(r)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		h, err := s.ownWebhook(r.Context(), c, r.PathValue("id"))
		if err == nil {
			err = act(r, h)
		}
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		http.Redirect(w, r, "/webhooks", http.StatusSeeOther)
	}
}

func (s *Server) webhookPageRoutes(page func(string, http.HandlerFunc)) {
	page("GET /webhooks", s.webhooksPage)
	page("POST /webhooks", s.createWebhookForm)
	page("POST /webhooks/{id}/delete", s.webhookForm(func(r *http.Request, h *crucible.Webhook) error {
		return s.b.DeleteWebhook(r.Context(), h.ID)
	}))
	page("POST /webhooks/{id}/ping", s.webhookForm(func(r *http.Request, h *crucible.Webhook) error {
		wh, err := s.webhooker()
		if err == nil {
			_, err = wh.PingWebhook(r.Context(), h)
		}
		return err
	}))
}
