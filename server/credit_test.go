package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
)

// TestCreditLimit gives an account a credit limit: tasks are priced at
// creation and counted against it, the one that would pass it is refused
// with what it costs and what is left (its estimate warns first), the
// balance says so, and an admin raising the limit lets it through.
func TestCreditLimit(t *testing.T) {
	e := newEnv(t, Options{})
	var ck api.CreatedKey
	e.do(e.admin, "POST", api.PathKeys, api.CreateKeyRequest{AccountName: "carol", CreditLimit: 0.5}, http.StatusCreated, &ck)
	carol := ck.Secret
	var up api.DatasetUpload
	e.upload(carol, "instruct.jsonl", http.StatusCreated, &up)
	req := api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref()}
	for range 2 {
		var created api.CreatedTask
		e.do(carol, "POST", api.PathTasks, req, http.StatusCreated, &created)
		if created.Task.Price != 0.2 || created.Task.Currency != "USD" {
			t.Fatalf("task priced %g %s", created.Task.Price, created.Task.Currency)
		}
	}
	var est api.Estimate
	e.do(carol, "POST", api.PathEstimate, req, http.StatusOK, &est)
	if len(est.Warnings) == 0 || !strings.Contains(est.Warnings[len(est.Warnings)-1], "0.10 USD left") {
		t.Errorf("estimate warnings %v", est.Warnings)
	}
	body := string(e.do(carol, "POST", api.PathTasks, req, http.StatusForbidden, nil))
	if !strings.Contains(body, "this task costs 0.20 USD; your account has 0.10 USD left of its 0.50 USD limit") {
		t.Errorf("refusal: %s", body)
	}
	var b api.AccountBalance
	e.do(carol, "GET", api.PathAccount, nil, http.StatusOK, &b)
	if b.Spent != 0.4 || b.Left == nil || *b.Left != 0.1 || b.CreditLimit != 0.5 {
		t.Errorf("balance %+v", b)
	}
	// Only admins set limits, to a number of at least 0.
	path := api.PathAccounts + "/" + b.Account.ID + "/credit"
	e.do(carol, "PUT", path, api.SetCreditRequest{CreditLimit: 100}, http.StatusForbidden, nil)
	e.do(e.admin, "PUT", path, map[string]any{"credit_limit": -1}, http.StatusBadRequest, nil)
	e.do(e.admin, "PUT", api.PathAccounts+"/nobody/credit", api.SetCreditRequest{CreditLimit: 1}, http.StatusNotFound, nil)
	e.do(e.admin, "PUT", path, api.SetCreditRequest{CreditLimit: 1}, http.StatusOK, &b)
	if *b.Left != 0.6 {
		t.Errorf("after raising the limit: %+v", b)
	}
	e.do(carol, "POST", api.PathTasks, req, http.StatusCreated, nil)
	// An account without a limit is never refused, and its balance has no
	// "left".
	var own api.AccountBalance
	e.do(e.customer, "GET", api.PathAccount, nil, http.StatusOK, &own)
	if own.Left != nil || own.CreditLimit != 0 {
		t.Errorf("unlimited account's balance %+v", own)
	}
	var list api.TaskList
	e.do(carol, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if list.Total != 3 {
		t.Errorf("carol has %d tasks, want 3 (the refused one stored nothing)", list.Total)
	}
}
