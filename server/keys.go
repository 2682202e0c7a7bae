package server

import (
	"net/http"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// createKey makes a key for the caller's account or, for admins naming
// account_name, a new account and its first key.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req api.CreateKeyRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.RateLimit < 0 {
		return crucible.Errorf(crucible.EINVALID, "rate_limit must not be negative, got %d", req.RateLimit)
	}
	if req.RateLimit > s.opt.RatePerMinute && !c.admin() {
		return crucible.Errorf(crucible.EFORBIDDEN, "only admins give a key more than the default %d requests a minute", s.opt.RatePerMinute)
	}
	if len(req.Name) > 100 {
		return crucible.Errorf(crucible.EINVALID, "key name is longer than 100 characters")
	}
	accountID := c.account.ID
	if req.AccountName != "" || req.Admin {
		if !c.admin() {
			return crucible.Errorf(crucible.EFORBIDDEN, "only admins create accounts")
		}
		name := strings.TrimSpace(req.AccountName)
		if name == "" {
			return crucible.Errorf(crucible.EINVALID, "account_name is required to create an account")
		}
		if req.CreditLimit < 0 {
			return crucible.Errorf(crucible.EINVALID, "credit_limit must not be negative, got %g", req.CreditLimit)
		}
		a := &crucible.Account{Name: name, Admin: req.Admin, CreditLimit: req.CreditLimit}
		if err := s.b.CreateAccount(r.Context(), a); err != nil {
			return err
		}
		accountID = a.ID
	}
	k, secret, err := newKey(r.Context(), s.b, accountID, req.Name, req.RateLimit)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, api.CreatedKey{Key: k, Secret: secret})
	return nil
}

// listKeys lists the caller's keys; admins may name ?account=ID.
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, c *caller) error {
	accountID := c.account.ID
	if a := r.URL.Query().Get("account"); a != "" && a != accountID {
		if !c.admin() {
			return crucible.Errorf(crucible.EFORBIDDEN, "only admins list other accounts' keys")
		}
		if _, err := s.b.FindAccount(r.Context(), a); err != nil {
			return err
		}
		accountID = a
	}
	keys, err := s.b.FindAPIKeys(r.Context(), accountID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(keys))
	return nil
}

// revokeKey revokes one of the caller's keys (admins: anyone's). Another
// account's key is ENOTFOUND for everyone else.
func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request, c *caller) error {
	id := r.PathValue("id")
	accounts := []*crucible.Account{c.account}
	if c.admin() {
		all, err := s.b.FindAccounts(r.Context())
		if err != nil {
			return err
		}
		accounts = all
	}
	for _, a := range accounts {
		keys, err := s.b.FindAPIKeys(r.Context(), a.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.ID != id {
				continue
			}
			if err := s.b.RevokeAPIKey(r.Context(), id); err != nil {
				return err
			}
			api.WriteJSON(w, http.StatusOK, map[string]string{"revoked": id})
			return nil
		}
	}
	return crucible.Errorf(crucible.ENOTFOUND, "API key %s not found", id)
}
