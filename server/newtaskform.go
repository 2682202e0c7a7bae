package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// The new-task form has two steps: choose (model, dataset and the options:
// type, budget, visibility, how miners are found, the customer's own test
// set, hyperparameter hints, a grpo task's reward functions) and confirm
// (the detected mapping, the estimate with its price and the account's
// credit). Every option travels to the confirm step in hidden fields and is
// checked again, as the API checks a request, when the task is created.

// BuiltinRewardRows is how many built-in rewards the form takes; a task
// may have one reward of its own (Starlark code) besides.
const BuiltinRewardRows = 3

// newTaskForm is the state of the new-task form across its two steps.
type newTaskForm struct {
	Models, Datasets []string
	Types            []crucible.TaskType
	Builtins         []api.RewardBuiltin // offered by name; empty when the backend lists none
	Model, Dataset   string
	// DatasetName names a kept upload (Dataset "upload:ID") when the form
	// comes back after a refused confirmation.
	DatasetName string
	Type        crucible.TaskType
	Hours       string
	Public      bool
	Competition string // "", open or champion
	// TestDataset is the customer's own test set ("upload:ID") and
	// TestName its file name.
	TestDataset, TestName string
	Hints                 hintFields
	HintsText             string        // the hints as read, in words (confirm step)
	Rewards               []rewardField // BuiltinRewardRows built-ins
	Custom                rewardField   // a reward of the customer's own, in Starlark
	Upload, TestUpload    *api.DatasetUpload
	Problems              []string // an upload's problems, each "file:line: field: problem"
	Error, Hint           string
	Estimate              *api.Estimate
	Balance               *api.AccountBalance // the account's credit, on the confirm step
	Mapping               []mappingField
}

// hintFields are the hyperparameter hints as typed.
type hintFields struct {
	LoRA                                   string // "", "lora" or "full"
	Rank, LR, Epochs, BatchSize, MaxLength string
}

// rewardField is one reward as typed: a built-in's name, weight and
// arguments (one key=value a line), or a reward of one's own's code.
type rewardField struct {
	Name, Weight, Args, Code string
}

// rewardCatalog is the part of a Backend that lists the built-in grpo
// rewards (optional: without it the form takes any name).
type rewardCatalog interface {
	RewardBuiltins() []api.RewardBuiltin
}

// grpoChecker is the part of a Backend that runs a grpo task's rewards on
// its dataset's first rows before it is stored (optional: Submit checks
// them anyway; with it the form shows a failing reward before confirming).
type grpoChecker interface {
	CheckGRPO(ctx context.Context, t *crucible.Task) error
}

func (s *Server) blankForm() *newTaskForm {
	f := &newTaskForm{Models: s.b.Models(), Datasets: s.b.Datasets(), Types: crucible.TaskTypes,
		Rewards: make([]rewardField, BuiltinRewardRows)}
	if rc, ok := s.b.(rewardCatalog); ok {
		f.Builtins = rc.RewardBuiltins()
	}
	return f
}

func (s *Server) renderForm(w http.ResponseWriter, r *http.Request, status int, f *newTaskForm) {
	s.render(w, r, status, "new", view{Title: "New task", Nav: "new", Page: f})
}

func (s *Server) newTaskPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.mustLogin(r); err != nil {
		s.pageError(w, r, err)
		return
	}
	f := s.blankForm()
	if len(f.Models) > 0 {
		f.Model = f.Models[0]
	}
	s.renderForm(w, r, http.StatusOK, f)
}

// formError puts err on the form: its message and hint.
func (f *newTaskForm) formError(err error) {
	f.Error, f.Hint = crucible.ErrorMessage(err), crucible.ErrorHint(err)
}

// read takes the form's fields (both steps send the same names).
func (f *newTaskForm) read(r *http.Request) {
	v := func(name string) string { return strings.TrimSpace(r.FormValue(name)) }
	f.Model, f.Dataset = r.FormValue("model"), v("dataset")
	if f.Dataset == "" {
		f.Dataset = v("kept_dataset")
	}
	f.Type = crucible.TaskType(r.FormValue("type"))
	f.Hours, f.Public, f.Competition = v("hours"), r.FormValue("public") != "", v("competition")
	f.TestDataset = v("test_dataset")
	f.Hints = hintFields{LoRA: v("hint_lora"), Rank: v("hint_lora_rank"), LR: v("hint_learning_rate"),
		Epochs: v("hint_epochs"), BatchSize: v("hint_batch_size"), MaxLength: v("hint_max_length")}
	for i := range f.Rewards {
		n := strconv.Itoa(i)
		f.Rewards[i] = rewardField{Name: v("reward_name_" + n), Weight: v("reward_weight_" + n), Args: v("reward_args_" + n)}
	}
	// The code keeps its spacing: Starlark reads indentation.
	f.Custom = rewardField{Name: v("reward_code_name"), Weight: v("reward_code_weight"),
		Code: strings.ReplaceAll(r.FormValue("reward_code"), "\r\n", "\n")}
}

// checkTaskForm is step one: store the uploaded files (or take the picked
// dataset), detect the type and mapping and estimate the task, then show
// them for confirmation. A bad upload comes back with its problems listed.
func (s *Server) checkTaskForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 2*s.opt.MaxUpload+1<<20)
	f := s.blankForm()
	if err := r.ParseMultipartForm(32 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		f.formError(crucible.Errorf(crucible.EINVALID, "read the form: %v", err))
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	f.read(r)
	if err := s.checkModel(c, f.Model); err != nil {
		f.formError(err)
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	for _, up := range []struct {
		field string
		ref   *string
		into  **api.DatasetUpload
	}{{"file", &f.Dataset, &f.Upload}, {"test_file", &f.TestDataset, &f.TestUpload}} {
		saved, ok := s.formUpload(r, c, up.field, f)
		if !ok {
			s.renderForm(w, r, http.StatusBadRequest, f)
			return
		}
		if saved != nil {
			*up.into, *up.ref = saved, saved.Ref()
		}
	}
	if f.Dataset == "" {
		f.formError(crucible.Errorf(crucible.EINVALID, "choose a dataset file to upload, or pick a dataset"))
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	req, err := f.request(r)
	if err == nil {
		err = s.checkRequest(r.Context(), c, &req)
	}
	if err == nil {
		f.HintsText = hintsText(req.Hints)
		f.Estimate, err = s.estimateTask(r.Context(), c, req)
	}
	if err == nil && req.Type == crucible.TaskGRPO {
		if gc, ok := s.b.(grpoChecker); ok {
			m := f.Estimate.Mapping
			err = gc.CheckGRPO(r.Context(), &crucible.Task{Type: req.Type, Model: req.Model, Dataset: req.Dataset, Mapping: &m, Rewards: req.Rewards})
		}
	}
	if err == nil {
		err = s.confirmDetails(r.Context(), c, f)
	}
	if err != nil {
		f.Estimate = nil
		s.keepUploads(r.Context(), c, f)
		f.formError(err)
		s.renderForm(w, r, api.HTTPStatus(crucible.ErrorCode(err)), f)
		return
	}
	f.Type = f.Estimate.Type
	f.Mapping = mappingFields(f.Estimate.Type, f.Estimate.Mapping)
	s.renderForm(w, r, http.StatusOK, f)
}

// formUpload saves the file of a form field as an upload of the caller's
// account: nil when none was sent; false (with the problems on the form)
// when it was refused.
func (s *Server) formUpload(r *http.Request, c *caller, field string, f *newTaskForm) (*api.DatasetUpload, bool) {
	file, hdr, err := r.FormFile(field)
	if err != nil || hdr.Size == 0 {
		return nil, true
	}
	defer file.Close()
	up, err := s.b.SaveUpload(r.Context(), c.account.ID, hdr.Filename, file)
	if err != nil {
		if up != nil && len(up.Errors) > 0 {
			f.Problems = up.Errors
			f.Error = fmt.Sprintf("%s has %d problem(s); fix them and upload it again.", hdr.Filename, len(up.Errors))
		} else {
			f.formError(err)
		}
		return nil, false
	}
	return up, true
}

// confirmDetails fills what the confirm step shows beside the estimate: the
// test set's receipt, the account's credit, and a warning when the price
// would take the account past its limit (creating it would be refused).
func (s *Server) confirmDetails(ctx context.Context, c *caller, f *newTaskForm) error {
	if f.TestDataset != "" && f.TestUpload == nil {
		up, err := s.b.FindUpload(ctx, c.account.ID, strings.TrimPrefix(f.TestDataset, "upload:"))
		if err != nil {
			return err
		}
		f.TestUpload = up
	}
	if f.Upload == nil && uploadRef.MatchString(f.Dataset) {
		up, err := s.b.FindUpload(ctx, c.account.ID, strings.TrimPrefix(f.Dataset, "upload:"))
		if err != nil {
			return err
		}
		f.Upload = up
	}
	b, err := s.balance(ctx, c.account.ID)
	if err != nil {
		return err
	}
	f.Balance = b
	if err := s.checkCredit(ctx, c, f.Estimate); crucible.ErrorCode(err) == crucible.EFORBIDDEN {
		f.Estimate.Warnings = append(f.Estimate.Warnings, crucible.ErrorMessage(err)+": starting the task would be refused")
	} else if err != nil {
		return err
	}
	return nil
}

// keepUploads names the uploads a form that comes back holds on to, so
// that the customer need not send them again; only the caller's own are
// kept.
func (s *Server) keepUploads(ctx context.Context, c *caller, f *newTaskForm) {
	find := func(ref string, up *api.DatasetUpload) (string, string) {
		if !uploadRef.MatchString(ref) {
			return ref, ""
		}
		if up == nil {
			var err error
			if up, err = s.b.FindUpload(ctx, c.account.ID, strings.TrimPrefix(ref, "upload:")); err != nil {
				return "", ""
			}
		}
		return ref, up.Name
	}
	f.Dataset, f.DatasetName = find(f.Dataset, f.Upload)
	f.TestDataset, f.TestName = find(f.TestDataset, f.TestUpload)
	if f.TestName == "" {
		f.TestDataset = ""
	}
	f.Upload, f.TestUpload = nil, nil
}

// request builds the API request the form describes.
func (f *newTaskForm) request(r *http.Request) (api.CreateTaskRequest, error) {
	req := api.CreateTaskRequest{Type: f.Type, Model: f.Model, Dataset: f.Dataset, Public: f.Public,
		Competition: f.Competition, TestDataset: f.TestDataset}
	if f.Hours != "" {
		h, err := formNumber("training budget in hours", f.Hours)
		if err != nil {
			return req, err
		}
		req.Hours = h
	}
	switch f.Competition {
	case "", crucible.CompetitionOpen, crucible.CompetitionChampion:
	default:
		return req, crucible.Errorf(crucible.EINVALID, "competition %q: want open or champion", f.Competition)
	}
	hints, err := f.Hints.hints()
	if err != nil {
		return req, err
	}
	req.Hints = hints
	if req.Rewards, err = f.rewards(); err != nil {
		return req, err
	}
	m, err := mappingFromForm(r)
	if err != nil {
		return req, err
	}
	req.Mapping = m
	return req, nil
}

// formNumber parses a number typed in the form: finite, or an error naming
// the field.
func formNumber(field, s string) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, crucible.Errorf(crucible.EINVALID, "%s: %q is not a number", field, s)
	}
	return x, nil
}

// formInt parses a whole number typed in the form.
func formInt(field, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, crucible.Errorf(crucible.EINVALID, "%s: %q is not a whole number", field, s)
	}
	return n, nil
}

// hints reads the hints as typed; nil when none is set. Their ranges are
// checked with the request (crucible.Hints.Validate).
func (h hintFields) hints() (*crucible.Hints, error) {
	var out crucible.Hints
	switch h.LoRA {
	case "":
	case "lora", "full":
		lora := h.LoRA == "lora"
		out.LoRA = &lora
	default:
		return nil, crucible.Errorf(crucible.EINVALID, "hints: method %q: want lora or full", h.LoRA)
	}
	var err error
	for _, f := range []struct {
		field, s string
		into     *int
	}{{"hints: LoRA rank", h.Rank, &out.LoRARank}, {"hints: batch size", h.BatchSize, &out.BatchSize}, {"hints: max length", h.MaxLength, &out.MaxLength}} {
		if f.s != "" {
			if *f.into, err = formInt(f.field, f.s); err != nil {
				return nil, err
			}
		}
	}
	for _, f := range []struct {
		field, s string
		into     *float64
	}{{"hints: learning rate", h.LR, &out.LR}, {"hints: epochs", h.Epochs, &out.Epochs}} {
		if f.s != "" {
			if *f.into, err = formNumber(f.field, f.s); err != nil {
				return nil, err
			}
		}
	}
	if out.Empty() {
		return nil, nil
	}
	return &out, nil
}

// rewards reads the reward rows as typed: each built-in row with a name,
// then the reward of the customer's own when it has code. A row with
// settings but no name is an error naming the row. Names, weights, sizes
// and the count are checked with the request (crucible.ValidateRewards).
func (f *newTaskForm) rewards() ([]crucible.Reward, error) {
	var out []crucible.Reward
	for i, row := range f.Rewards {
		where := fmt.Sprintf("reward %d", i+1)
		if row.Name == "" {
			if row.Weight != "" || row.Args != "" {
				return nil, crucible.Errorf(crucible.EINVALID, "%s: pick a built-in reward for its weight and arguments", where)
			}
			continue
		}
		r, err := row.reward(where + " (" + row.Name + ")")
		if err != nil {
			return nil, err
		}
		args, err := formArgs(where+" ("+row.Name+")", row.Args)
		if err != nil {
			return nil, err
		}
		r.Args = args
		out = append(out, r)
	}
	if c := f.Custom; strings.TrimSpace(c.Code) != "" {
		if c.Name == "" {
			c.Name = "custom"
		}
		r, err := c.reward("your reward (" + c.Name + ")")
		if err != nil {
			return nil, err
		}
		r.Code = c.Code
		out = append(out, r)
	} else if c.Name != "" || c.Weight != "" {
		return nil, crucible.Errorf(crucible.EINVALID, "your reward %s has no code", c.Name).
			WithHint("write a Starlark function reward(prompt, completion, extra) returning a number")
	}
	return out, nil
}

// reward reads a row's name and weight (1 when empty).
func (row rewardField) reward(where string) (crucible.Reward, error) {
	r := crucible.Reward{Name: row.Name, Weight: 1}
	if row.Weight != "" {
		w, err := formNumber(where+": weight", row.Weight)
		if err != nil {
			return r, err
		}
		r.Weight = w
	}
	return r, nil
}

// maxArgs bounds a built-in's arguments.
const maxArgs = 16

// formArgs reads a built-in's arguments, one key=value a line (a value may
// hold commas and '=': only the first '=' splits).
func formArgs(where, s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]any{}
	for i, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, crucible.Errorf(crucible.EINVALID, "%s: argument line %d %q is not key=value", where, i+1, clip(line, 40))
		}
		if _, dup := out[k]; dup {
			return nil, crucible.Errorf(crucible.EINVALID, "%s: argument %q is given twice", where, clip(k, 40))
		}
		out[k] = strings.TrimSpace(v)
		if len(out) > maxArgs {
			return nil, crucible.Errorf(crucible.EINVALID, "%s: more than %d arguments", where, maxArgs)
		}
	}
	return out, nil
}

// clip shortens s for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// createTaskForm is step two: create the task as confirmed and go to its
// page. A refusal brings back the first step with every option and the
// uploads kept.
func (s *Server) createTaskForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f := s.blankForm()
	if err := r.ParseForm(); err != nil {
		f.formError(crucible.Errorf(crucible.EINVALID, "read the form: %v", err))
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	f.read(r)
	req, err := f.request(r)
	if err == nil {
		var created *api.CreatedTask
		if created, err = s.newTask(r.Context(), c, req); err == nil {
			http.Redirect(w, r, "/tasks/"+created.Task.ID, http.StatusSeeOther)
			return
		}
	}
	f.formError(err)
	s.keepUploads(r.Context(), c, f)
	s.renderForm(w, r, api.HTTPStatus(crucible.ErrorCode(err)), f)
}
