package server

import (
	"context"
	"fmt"
	"math"
	"net/http"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// counts reports whether a task's price counts against its account's
// credit: every task but those that ended before any miner trained (data
// that could not be prepared, no miner found, cancelled before the start).
func counts(t *crucible.Task) bool {
	switch t.Status {
	case crucible.StatusPrepTaskFailure, crucible.StatusFailureFindingNodes:
		return false
	case crucible.StatusCancelled:
		return t.StartedAt != nil
	}
	return true
}

// taskTotaler is a store that sums tasks in one query (sqlstore does);
// without it the server reads the tasks page by page.
type taskTotaler interface {
	TaskTotals(ctx context.Context, account string) (*crucible.TaskTotals, error)
}

// spent sums the prices of an account's tasks that count.
func (s *Server) spent(ctx context.Context, account string) (float64, error) {
	if tt, ok := s.b.(taskTotaler); ok {
		t, err := tt.TaskTotals(ctx, account)
		if err != nil {
			return 0, err
		}
		return math.Round(t.Spent*100) / 100, nil
	}
	total := 0.0
	for off := 0; ; off += 500 {
		tasks, n, err := s.b.FindTasks(ctx, crucible.TaskFilter{AccountID: account, Limit: 500, Offset: off})
		if err != nil {
			return 0, err
		}
		for _, t := range tasks {
			if counts(t) {
				total += t.Price
			}
		}
		if off+len(tasks) >= n || len(tasks) == 0 {
			return math.Round(total*100) / 100, nil
		}
	}
}

// balance is the caller's account with what it has spent and has left.
func (s *Server) balance(ctx context.Context, accountID string) (*api.AccountBalance, error) {
	a, err := s.b.FindAccount(ctx, accountID)
	if err != nil {
		return nil, err
	}
	b := &api.AccountBalance{Account: a, CreditLimit: a.CreditLimit}
	if b.Spent, err = s.spent(ctx, a.ID); err != nil {
		return nil, err
	}
	if a.CreditLimit > 0 {
		left := math.Max(0, math.Round((a.CreditLimit-b.Spent)*100)/100)
		b.Left = &left
	}
	return b, nil
}

// checkCredit refuses a task whose price would take its account past its
// credit limit (EFORBIDDEN, saying what it costs and what is left).
func (s *Server) checkCredit(ctx context.Context, c *caller, est *api.Estimate) error {
	if est.Price <= 0 {
		return nil
	}
	b, err := s.balance(ctx, c.account.ID)
	if err != nil || b.Left == nil {
		return err
	}
	if est.Price > *b.Left {
		return crucible.Errorf(crucible.EFORBIDDEN, "this task costs %.2f %s; your account has %.2f %s left of its %.2f %s limit",
			est.Price, est.Currency, *b.Left, est.Currency, b.CreditLimit, est.Currency).
			WithHint("lower the budget (--hours) or pick a smaller model, or ask the validator's operator to raise your limit")
	}
	return nil
}

func (s *Server) accountBalance(w http.ResponseWriter, r *http.Request, c *caller) error {
	b, err := s.balance(r.Context(), c.account.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, b)
	return nil
}

// setCredit sets an account's credit limit (admins only).
func (s *Server) setCredit(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.admin() {
		return crucible.Errorf(crucible.EFORBIDDEN, "only admins set credit limits")
	}
	var req api.SetCreditRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	if req.CreditLimit < 0 || math.IsNaN(req.CreditLimit) || math.IsInf(req.CreditLimit, 0) {
		return crucible.Errorf(crucible.EINVALID, "credit_limit must be a number of at least 0 (0: no limit), got %v", req.CreditLimit)
	}
	a, err := s.b.FindAccount(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	a.CreditLimit = req.CreditLimit
	if err := s.b.UpdateAccount(r.Context(), a); err != nil {
		return fmt.Errorf("set credit limit: %w", err)
	}
	b, err := s.balance(r.Context(), a.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, b)
	return nil
}
