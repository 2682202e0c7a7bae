package server

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// maxJSON bounds JSON request bodies.
const maxJSON = 1 << 20

// hubID matches a Hugging Face repository id with an optional revision:
// what a customer may name as a dataset besides an upload.
var hubID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*(@[A-Za-z0-9_.-]+)?$`)

// hubPrefix marks a customer's hub dataset, which the backend resolves in
// the Hugging Face cache only (uploads.HubPrefix).
const hubPrefix = "hf:"

// uploadRef matches "upload:ID".
var uploadRef = regexp.MustCompile(`^upload:[A-Za-z0-9_-]{1,64}$`)

// checkRequest validates what a customer may ask for: a known model, and a
// dataset that is an upload or a hub id. Admins may name any model or
// dataset the validator can resolve, server paths included.
func (s *Server) checkRequest(ctx context.Context, c *caller, req *api.CreateTaskRequest) error {
	if req.Type != "" && !req.Type.Valid() {
		return crucible.Errorf(crucible.EINVALID, "unknown task type %q (want instruct, chat, dpo, text or grpo)", req.Type)
	}
	if len(req.Rewards) > 0 && req.Type == "" {
		req.Type = crucible.TaskGRPO
	}
	switch {
	case req.Type == crucible.TaskGRPO:
		if err := crucible.ValidateRewards(req.Rewards); err != nil {
			return err
		}
	case len(req.Rewards) > 0:
		return crucible.Errorf(crucible.EINVALID, "rewards are for grpo tasks, not %s tasks", req.Type)
	}
	if req.Model == "" {
		return crucible.Errorf(crucible.EINVALID, "a model is required").WithHint("GET /v1/models lists them")
	}
	if req.Dataset == "" {
		return crucible.Errorf(crucible.EINVALID, "a dataset is required").
			WithHint(`upload one with POST /v1/datasets and pass "upload:ID"`)
	}
	if !(req.Hours >= 0 && req.Hours <= 168) { // NaN too
		return crucible.Errorf(crucible.EINVALID, "hours must be between 0 (choose for me) and 168, got %g", req.Hours)
	}
	if req.Mapping != nil && *req.Mapping == (crucible.ColumnMapping{}) {
		req.Mapping = nil
	}
	if err := req.Hints.Validate(); err != nil {
		return err
	}
	if req.Hints.Empty() {
		req.Hints = nil
	}
	if req.TestDataset != "" && !uploadRef.MatchString(req.TestDataset) {
		return crucible.Errorf(crucible.EINVALID, "test_dataset %q is not an upload (upload:ID)", req.TestDataset).
			WithHint(`upload your test set with POST /v1/datasets and pass the "upload:ID" it answers`)
	}
	if req.TestDataset != "" && req.TestDataset == req.Dataset {
		return crucible.Errorf(crucible.EINVALID, "the test set is the dataset itself: the winner would be chosen on rows it trained on")
	}
	if c.admin() {
		return nil
	}
	if err := s.checkModel(c, req.Model); err != nil {
		return err
	}
	if req.TestDataset != "" {
		if err := s.ownUpload(ctx, c, req.TestDataset); err != nil {
			return err
		}
	}
	if uploadRef.MatchString(req.Dataset) {
		return s.ownUpload(ctx, c, req.Dataset)
	}
	id := strings.TrimPrefix(req.Dataset, hubPrefix)
	if !hubID.MatchString(id) || strings.Contains(id, "..") {
		return crucible.Errorf(crucible.EINVALID, "dataset %q is neither an upload (upload:ID) nor a Hugging Face dataset id (org/name)", req.Dataset)
	}
	// Resolved in the cache only, never as a path on the validator.
	req.Dataset = hubPrefix + id
	return nil
}

// ownUpload refuses an upload ("upload:ID") the caller's account did not
// make: only the account that uploaded a dataset may train or test on it.
func (s *Server) ownUpload(ctx context.Context, c *caller, ref string) error {
	id := strings.TrimPrefix(ref, "upload:")
	if _, err := s.b.FindUpload(ctx, c.account.ID, id); err != nil {
		if crucible.ErrorCode(err) == crucible.ENOTFOUND {
			return crucible.Errorf(crucible.ENOTFOUND, "no upload %s of yours", id).
				WithHint(`upload it with POST /v1/datasets and pass the "upload:ID" it answers`)
		}
		return err
	}
	return nil
}

// checkModel refuses a model that is not on the list, except for admins.
func (s *Server) checkModel(c *caller, model string) error {
	if c.admin() {
		return nil
	}
	if models := s.b.Models(); !slices.Contains(models, model) {
		return crucible.Errorf(crucible.EINVALID, "unknown model %q", model).WithHint(pickModelHint(models))
	}
	return nil
}

// pickModelHint lists the models a customer may name, or says that the
// validator offers none, which only its operator can change.
func pickModelHint(models []string) string {
	if len(models) == 0 {
		return "this validator offers no models: its operator must put model directories under its --assets directory"
	}
	return "pick one of: " + strings.Join(models, ", ")
}

// newTask checks req, estimates it and submits the task it describes.
func (s *Server) newTask(ctx context.Context, c *caller, req api.CreateTaskRequest) (*api.CreatedTask, error) {
	if err := s.checkRequest(ctx, c, &req); err != nil {
		return nil, err
	}
	switch req.Competition {
	case "", crucible.CompetitionOpen, crucible.CompetitionChampion:
	default:
		return nil, crucible.Errorf(crucible.EINVALID, "competition %q: want open or champion", req.Competition)
	}
	est, err := s.estimateTask(ctx, c, req)
	if err != nil {
		return nil, err
	}
	m := est.Mapping
	t := &crucible.Task{
		AccountID: c.account.ID, Type: est.Type, IsOrganic: true, Private: !req.Public,
		Model: req.Model, ModelParamsCount: est.ModelParams, Dataset: req.Dataset, DatasetName: est.DatasetName, Mapping: &m,
		HoursToComplete: req.Hours, Rewards: req.Rewards, Competition: req.Competition,
		TestDataset: req.TestDataset, Hints: req.Hints,
	}
	if t.HoursToComplete == 0 {
		t.HoursToComplete = est.Hours
	}
	t.Price, t.Currency = est.Price, est.Currency
	if err := s.checkCredit(ctx, c, est); err != nil {
		return nil, err
	}
	if err := s.b.Submit(ctx, t); err != nil {
		return nil, err
	}
	return &api.CreatedTask{Task: t, Estimate: est}, nil
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, c *caller) error {
	api.WriteJSON(w, http.StatusOK, api.ModelList{Models: nonNil(s.b.Models())})
	return nil
}

// estimateTask is the backend's estimate of a checked request; with the
// customer's own test set, every row of the dataset is trained on and the
// test set's rows are the hidden test.
func (s *Server) estimateTask(ctx context.Context, c *caller, req api.CreateTaskRequest) (*api.Estimate, error) {
	est, err := s.b.Estimate(ctx, req)
	if err != nil || req.TestDataset == "" {
		return est, err
	}
	up, err := s.b.FindUpload(ctx, c.account.ID, strings.TrimPrefix(req.TestDataset, "upload:"))
	if crucible.ErrorCode(err) == crucible.ENOTFOUND && c.admin() {
		return est, nil // an admin may name another account's upload
	}
	if err != nil {
		return nil, err
	}
	est.TrainRows, est.TestRows, est.OwnTestSet = est.Rows, up.Rows, true
	return est, nil
}

func (s *Server) estimate(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req api.CreateTaskRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	if err := s.checkRequest(r.Context(), c, &req); err != nil {
		return err
	}
	est, err := s.estimateTask(r.Context(), c, req)
	if err != nil {
		return err
	}
	if err := s.checkCredit(r.Context(), c, est); crucible.ErrorCode(err) == crucible.EFORBIDDEN {
		est.Warnings = append(est.Warnings, crucible.ErrorMessage(err)+": creating the task would be refused")
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, est)
	return nil
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req api.CreateTaskRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	created, err := s.newTask(r.Context(), c, req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.PathTasks+"/"+created.Task.ID)
	api.WriteJSON(w, http.StatusCreated, created)
	return nil
}

// uploadDataset stores the raw body as a dataset named by ?name=.
func (s *Server) uploadDataset(w http.ResponseWriter, r *http.Request, c *caller) error {
	name := r.URL.Query().Get("name")
	if name == "" {
		return crucible.Errorf(crucible.EINVALID, "name the uploaded file with ?name=FILE").
			WithHint("the extension (.jsonl, .json, .csv, .tsv, .parquet, optionally .gz) says how to read it")
	}
	up, err := s.saveUpload(r.Context(), c.account.ID, name, http.MaxBytesReader(w, r.Body, s.opt.MaxUpload))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, up)
	return nil
}

// saveUpload stores an upload; a refused one's problems become the error
// message, one per line, so that API clients see every line number.
func (s *Server) saveUpload(ctx context.Context, account, name string, body io.Reader) (*api.DatasetUpload, error) {
	up, err := s.b.SaveUpload(ctx, account, name, body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, crucible.Errorf(crucible.ETOOLARGE, "dataset %s is larger than the %d MiB limit", name, s.opt.MaxUpload>>20)
	}
	if err != nil && up != nil && len(up.Errors) > 0 {
		msg := fmt.Sprintf("dataset %s has %d problem(s):\n%s", name, len(up.Errors), strings.Join(up.Errors, "\n"))
		return nil, &crucible.Error{Code: crucible.ErrorCode(err), Message: msg, Hint: crucible.ErrorHint(err)}
	}
	return up, err
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	f := crucible.TaskFilter{AccountID: c.account.ID}
	if q.Get("all") == "true" || q.Get("all") == "1" {
		if !c.admin() {
			return crucible.Errorf(crucible.EFORBIDDEN, "only admins list every account's tasks")
		}
		f.AccountID = ""
	}
	for _, st := range q["status"] {
		for _, one := range strings.Split(st, ",") {
			if !crucible.TaskStatus(one).Valid() {
				return crucible.Errorf(crucible.EINVALID, "unknown status %q", one)
			}
			f.Statuses = append(f.Statuses, crucible.TaskStatus(one))
		}
	}
	if t := q.Get("type"); t != "" {
		tt, err := crucible.ParseTaskType(t)
		if err != nil {
			return err
		}
		f.Type = tt
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 50, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = intParam(q.Get("offset"), 0, 0, 1<<30); err != nil {
		return err
	}
	tasks, total, err := s.b.FindTasks(r.Context(), f)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, api.TaskList{Tasks: nonNil(tasks), Total: total})
	return nil
}

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(s string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, crucible.Errorf(crucible.EINVALID, "%q is not a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// findTask returns the task with id when the caller may see it; another
// account's private task is ENOTFOUND.
func (s *Server) findTask(ctx context.Context, c *caller, id string) (*crucible.Task, error) {
	t, err := s.b.FindTask(ctx, id)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND && taskPrefix.MatchString(id) && c != nil {
		t, err = s.findByPrefix(ctx, c, id)
	}
	if err != nil {
		return nil, err
	}
	if !c.canSee(t) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "task %s not found", id)
	}
	return t, nil
}

// taskPrefix matches what may be the first characters of a task ID.
var taskPrefix = regexp.MustCompile(`^[0-9a-f][0-9a-f-]{3,34}$`)

// findByPrefix returns the one task of the caller's account (an admin's:
// any account's) whose ID starts with prefix. Several is EINVALID naming
// them; none is ENOTFOUND. Other accounts' tasks are never matched, so a
// prefix tells nothing about them.
func (s *Server) findByPrefix(ctx context.Context, c *caller, prefix string) (*crucible.Task, error) {
	f := crucible.TaskFilter{AccountID: c.account.ID, IDPrefix: prefix, Limit: 5}
	if c.admin() {
		f.AccountID = ""
	}
	tasks, total, err := s.b.FindTasks(ctx, f)
	if err != nil {
		return nil, err
	}
	switch total {
	case 0:
		return nil, crucible.Errorf(crucible.ENOTFOUND, "task %s not found", prefix)
	case 1:
		return tasks[0], nil
	}
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.ID)
	}
	more := ""
	if total > len(ids) {
		more = fmt.Sprintf(" and %d more", total-len(ids))
	}
	return nil, crucible.Errorf(crucible.EINVALID, "%q is the start of %d task IDs: %s%s", prefix, total, strings.Join(ids, ", "), more).
		WithHint("type more of the ID")
}

func (s *Server) showTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) taskResults(w http.ResponseWriter, r *http.Request, c *caller) error {
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	res, err := s.results(r.Context(), t)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, res)
	return nil
}

// results builds a task's per-miner breakdown: evaluated submissions by
// score then loss, then the failed ones.
func (s *Server) results(ctx context.Context, t *crucible.Task) (*api.TaskResults, error) {
	subs, err := s.b.FindSubmissions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	res := &api.TaskResults{Task: t, Miners: []*api.MinerResult{}}
	if res.BaseLoss, err = s.b.BaseLoss(ctx, t.ID); err != nil {
		return nil, err
	}
	if br, ok := s.b.(baseRewarder); ok && t.Type == crucible.TaskGRPO {
		if res.BaseReward, err = br.BaseReward(ctx, t.ID); err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(subs, compareSubmissions)
	rank := 0
	for _, sub := range subs {
		m := &api.MinerResult{Submission: sub, Winner: sub.Hotkey == t.Winner && t.Winner != ""}
		if sub.Evaluated() && sub.Failure == "" {
			rank++
			m.Rank = rank
		}
		res.Miners = append(res.Miners, m)
	}
	return res, nil
}

// compareSubmissions orders standing evaluated submissions first, by score
// (higher first) then test loss (lower first), then the rest by hotkey.
func compareSubmissions(a, b *crucible.Submission) int {
	ra, rb := a.Evaluated() && a.Failure == "", b.Evaluated() && b.Failure == ""
	if ra != rb {
		if ra {
			return -1
		}
		return 1
	}
	if ra {
		qa, qb := deref(a.QualityScore), deref(b.QualityScore)
		if qa != qb {
			if qa > qb {
				return -1
			}
			return 1
		}
		if a.Reward != nil && b.Reward != nil && a.Reward.Score != b.Reward.Score {
			if a.Reward.Score > b.Reward.Score { // grpo: higher reward first
				return -1
			}
			return 1
		}
		if a.TestLoss != nil && b.TestLoss != nil && *a.TestLoss != *b.TestLoss {
			if *a.TestLoss < *b.TestLoss {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(a.Hotkey, b.Hotkey)
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	if !c.canChange(t) {
		return crucible.Errorf(crucible.EFORBIDDEN, "task %s belongs to another account", t.ID)
	}
	if t.Status.Terminal() {
		return crucible.Errorf(crucible.ECONFLICT, "task %s has already finished (%s)", t.ID, t.Status)
	}
	if err := s.b.Cancel(r.Context(), t); err != nil {
		return err
	}
	t, err = s.b.FindTask(r.Context(), t.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, t)
	return nil
}

// download streams the winner's result: the stored tar as it is, or
// gzipped with ?format=tar.gz.
func (s *Server) download(w http.ResponseWriter, r *http.Request, c *caller) error {
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return s.serveWinner(w, r, t)
}

func (s *Server) serveWinner(w http.ResponseWriter, r *http.Request, t *crucible.Task) error {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "tar"
	}
	if format != "tar" && format != "tar.gz" {
		return crucible.Errorf(crucible.EINVALID, "format %q: want tar or tar.gz", format)
	}
	if t.Status != crucible.StatusSuccess || t.ResultModel == "" {
		return crucible.Errorf(crucible.ECONFLICT, "task %s has no winner to download (status %s)", t.ID, t.Status)
	}
	merged, err := boolParam(r.URL.Query().Get("merged"))
	if err != nil {
		return err
	}
	name := "crucible-" + t.ID
	var rc io.ReadCloser
	if d, ok := s.b.(deliverer); ok {
		rc, err = d.Deliver(r.Context(), t, merged)
		if merged {
			name += "-merged"
		}
	} else if merged {
		return crucible.Errorf(crucible.EINVALID, "this validator does not merge adapters")
	} else {
		rc, err = s.b.OpenArtifact(r.Context(), t.ResultModel)
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	name += "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "tar" {
		w.Header().Set("Content-Type", "application/x-tar")
		_, err = io.Copy(w, rc)
		return quiet(err)
	}
	w.Header().Set("Content-Type", "application/gzip")
	zw := gzip.NewWriter(w)
	if _, err := io.Copy(zw, rc); err != nil {
		return quiet(err)
	}
	return quiet(zw.Close())
}

// quiet drops an error met after the response started: nothing more can be
// said to the client.
func quiet(error) error { return nil }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// baseRewarder is the part of a Backend that knows a grpo task's base
// model evaluation (optional: a backend without it shows none).
type baseRewarder interface {
	BaseReward(ctx context.Context, taskID string) (*crucible.RewardResult, error)
}

// deliverer is the part of a Backend that packages a winner for its
// customer (optional: without it the stored result is served as it is).
type deliverer interface {
	// Deliver returns the task's winner as a tar archive: one top-level
	// folder holding the model in its base's dtype, with a model card; an
	// adapter merged into its base when merged is set.
	Deliver(ctx context.Context, t *crucible.Task, merged bool) (io.ReadCloser, error)
}

// boolParam parses an optional true/false query parameter.
func boolParam(s string) (bool, error) {
	switch s {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, crucible.Errorf(crucible.EINVALID, "%q is not true or false", s)
}
