package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// newTaskForm is the state of the new-task form across its two steps:
// choose (model and dataset) and confirm (mapping and estimate).
type newTaskForm struct {
	Models, Datasets []string
	Types            []crucible.TaskType
	Model, Dataset   string
	Type             crucible.TaskType
	Hours            string
	Public           bool
	Upload           *api.DatasetUpload
	Problems         []string // an upload's problems, each "file:line: field: problem"
	Error, Hint      string
	Estimate         *api.Estimate
	Mapping          []mappingField
}

func (s *Server) blankForm() *newTaskForm {
	return &newTaskForm{Models: s.b.Models(), Datasets: s.b.Datasets(), Types: crucible.TaskTypes}
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

// checkTaskForm is step one: store the uploaded file (or take the picked
// dataset), detect its type and mapping and estimate the task, then show
// them for confirmation. A bad upload comes back with its problems listed.
func (s *Server) checkTaskForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxUpload+1<<20)
	f := s.blankForm()
	if err := r.ParseMultipartForm(32 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		f.formError(crucible.Errorf(crucible.EINVALID, "read the form: %v", err))
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	f.Model = r.FormValue("model")
	f.Dataset = strings.TrimSpace(r.FormValue("dataset"))
	f.Type = crucible.TaskType(r.FormValue("type"))
	f.Hours = r.FormValue("hours")
	f.Public = r.FormValue("public") != ""
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll()
	}
	if err := s.checkModel(c, f.Model); err != nil {
		f.formError(err)
		s.renderForm(w, r, http.StatusBadRequest, f)
		return
	}
	if file, hdr, err := r.FormFile("file"); err == nil {
		defer file.Close()
		if hdr.Size > 0 {
			up, err := s.b.SaveUpload(r.Context(), c.account.ID, hdr.Filename, file)
			if err != nil {
				if up != nil && len(up.Errors) > 0 {
					f.Problems = up.Errors
					f.Error = fmt.Sprintf("%s has %d problem(s); fix them and upload it again.", hdr.Filename, len(up.Errors))
				} else {
					f.formError(err)
				}
				s.renderForm(w, r, http.StatusBadRequest, f)
				return
			}
			f.Upload = up
			f.Dataset = up.Ref()
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
		f.Estimate, err = s.b.Estimate(r.Context(), req)
	}
	if err != nil {
		f.formError(err)
		s.renderForm(w, r, api.HTTPStatus(crucible.ErrorCode(err)), f)
		return
	}
	f.Type = f.Estimate.Type
	f.Mapping = mappingFields(f.Estimate.Type, f.Estimate.Mapping)
	s.renderForm(w, r, http.StatusOK, f)
}

// request builds the API request the form describes.
func (f *newTaskForm) request(r *http.Request) (api.CreateTaskRequest, error) {
	req := api.CreateTaskRequest{Type: f.Type, Model: f.Model, Dataset: f.Dataset, Public: f.Public}
	if f.Hours != "" {
		h, err := strconv.ParseFloat(f.Hours, 64)
		if err != nil {
			return req, crucible.Errorf(crucible.EINVALID, "hours %q is not a number", f.Hours)
		}
		req.Hours = h
	}
	m, err := mappingFromForm(r)
	if err != nil {
		return req, err
	}
	req.Mapping = m
	return req, nil
}

// createTaskForm is step two: create the task as confirmed and go to its
// page.
func (s *Server) createTaskForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f := s.blankForm()
	f.Model, f.Dataset = r.PostFormValue("model"), r.PostFormValue("dataset")
	f.Type = crucible.TaskType(r.PostFormValue("type"))
	f.Hours, f.Public = r.PostFormValue("hours"), r.PostFormValue("public") != ""
	req, err := f.request(r)
	if err == nil {
		var created *api.CreatedTask
		if created, err = s.newTask(r.Context(), c, req); err == nil {
			http.Redirect(w, r, "/tasks/"+created.Task.ID, http.StatusSeeOther)
			return
		}
	}
	f.formError(err)
	if req.Mapping != nil && f.Type.Valid() {
		f.Mapping = mappingFields(f.Type, *req.Mapping)
	}
	s.renderForm(w, r, api.HTTPStatus(crucible.ErrorCode(err)), f)
}

// stage is one step of the lifecycle strip on a task page.
type stage struct {
	Status crucible.TaskStatus
	State  string // "done", "current", "todo", "failed"
	At     *time.Time
}

// happyPath is the lifecycle a task page draws as a strip.
var happyPath = []crucible.TaskStatus{crucible.StatusPending, crucible.StatusPreparingData, crucible.StatusLookingForNodes,
	crucible.StatusReady, crucible.StatusTraining, crucible.StatusPreevaluation, crucible.StatusEvaluating, crucible.StatusSuccess}

// minerProgress is a miner's latest line on a task page.
type minerProgress struct {
	Hotkey  string
	Message string
	At      time.Time
	Step    string
	Loss    string
}

// taskView is everything a task page shows.
type taskView struct {
	Task     *crucible.Task
	Results  *api.TaskResults
	Stages   []stage
	Timeline []*crucible.TaskEvent
	Progress []*minerProgress
	// ProgressBy is each miner's latest progress by hotkey.
	ProgressBy map[string]*minerProgress
	LossChart  any
	Curves     any
	// IsGRPO pages show rewards instead of losses: the evaluation's
	// scores, the sampled reward while training, and each reward
	// function's mean per miner (RewardRows, columns RewardNames).
	IsGRPO      bool
	RewardNames []string
	RewardRows  []rewardRow
	LastEvent   int64
	CanCancel   bool
	Owner       bool
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	c := s.pageCaller(r)
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	res, err := s.results(r.Context(), t)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var evs []*crucible.TaskEvent
	for after := int64(0); len(evs) < 20000; {
		page, err := s.b.FindEvents(r.Context(), crucible.EventFilter{TaskID: t.ID, AfterID: after, Limit: 1000})
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		evs = append(evs, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	v := &taskView{Task: t, Results: res, CanCancel: c.canChange(t) && !t.Status.Terminal(), Owner: c.canChange(t)}
	if len(evs) > 0 {
		v.LastEvent = evs[len(evs)-1].ID
	}
	v.Stages = stages(t, evs)
	v.Timeline, v.Progress = timeline(evs)
	v.ProgressBy = map[string]*minerProgress{}
	for _, p := range v.Progress {
		v.ProgressBy[p.Hotkey] = p
	}
	v.LossChart = lossChart(res)
	v.Curves = curves(evs)
	if t.Type == crucible.TaskGRPO {
		v.IsGRPO = true
		v.LossChart, v.Curves = rewardChart(res), rewardCurves(evs)
		v.RewardNames, v.RewardRows = rewardTable(res)
	}
	s.render(w, r, http.StatusOK, "task", view{Title: "Task " + short(t.ID, 12), Nav: "tasks", Page: v})
}

// stages marks each step of the happy path done, current or to do; a task
// that left it ends in its terminal status, marked failed.
func stages(t *crucible.Task, evs []*crucible.TaskEvent) []stage {
	reached := map[crucible.TaskStatus]time.Time{crucible.StatusPending: t.CreatedAt}
	for _, e := range evs {
		if e.Kind == crucible.EventStatus && e.ToStatus != "" {
			reached[e.ToStatus] = e.CreatedAt
		}
	}
	cur := slices.Index(happyPath, t.Status)
	if t.Status == crucible.StatusDelayed {
		cur = slices.Index(happyPath, crucible.StatusLookingForNodes)
	}
	var out []stage
	for i, st := range happyPath {
		sg := stage{Status: st, State: "todo"}
		if at, ok := reached[st]; ok {
			sg.At = &at
			sg.State = "done"
		}
		if i == cur && !t.Status.Terminal() {
			sg.State = "current"
		}
		if cur < 0 && sg.State == "todo" {
			continue
		}
		out = append(out, sg)
	}
	if cur < 0 {
		sg := stage{Status: t.Status, State: "failed"}
		if t.Status == crucible.StatusCancelled {
			sg.State = "cancelled"
		}
		if at, ok := reached[t.Status]; ok {
			sg.At = &at
		}
		out = append(out, sg)
	}
	if t.Status == crucible.StatusSuccess {
		out[len(out)-1].State = "done"
	}
	return out
}

// timeline returns the events a page lists (status changes, log lines and
// each miner's latest progress, newest first, at most 200) and every
// miner's latest progress.
func timeline(evs []*crucible.TaskEvent) ([]*crucible.TaskEvent, []*minerProgress) {
	latest := map[string]*minerProgress{}
	var order []string
	var lines []*crucible.TaskEvent
	for _, e := range evs {
		if e.Kind == crucible.EventProgress && e.Hotkey != "" {
			p, ok := latest[e.Hotkey]
			if !ok {
				p = &minerProgress{Hotkey: e.Hotkey}
				latest[e.Hotkey] = p
				order = append(order, e.Hotkey)
			}
			_, isStep := e.Data["train_loss"]
			_, isReward := e.Data["train_reward"]
			if !(isStep || isReward) || p.Message == "" {
				p.Message = e.Message
			}
			p.At = e.CreatedAt
			if l, ok := number(e.Data["train_reward"]); ok {
				p.Loss = "reward " + strconv.FormatFloat(l, 'f', 4, 64)
				if st, ok := number(e.Data["step"]); ok {
					p.Step = strconv.FormatFloat(st, 'f', -1, 64)
				}
				p.Message = e.Message
				continue // charted, not listed
			}
			if l, ok := number(e.Data["train_loss"]); ok {
				p.Loss = strconv.FormatFloat(l, 'f', 4, 64)
				if st, ok := number(e.Data["step"]); ok {
					p.Step = strconv.FormatFloat(st, 'f', -1, 64)
				}
				p.Message = e.Message
				continue // training steps are charted, not listed
			}
		}
		lines = append(lines, e)
	}
	slices.Reverse(lines)
	if len(lines) > 200 {
		lines = lines[:200]
	}
	prog := make([]*minerProgress, 0, len(order))
	for _, h := range order {
		prog = append(prog, latest[h])
	}
	return lines, prog
}

// number reads a JSON number.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

// lossChart draws the test losses: the base model, then each evaluated
// miner best first, the winner marked.
func lossChart(res *api.TaskResults) any {
	var bars []bar
	if res.BaseLoss != nil {
		bars = append(bars, bar{Label: "base model", Value: *res.BaseLoss, Class: "base"})
	}
	for _, m := range res.Miners {
		if m.TestLoss == nil {
			continue
		}
		b := bar{Label: m.Hotkey, Value: *m.TestLoss, Class: "miner"}
		if m.Winner {
			b.Class, b.Note = "winner", "  ★ winner"
		}
		if res.BaseLoss != nil && *res.BaseLoss > 0 {
			b.Note = fmt.Sprintf("  (%+.1f%%)%s", (*m.TestLoss / *res.BaseLoss - 1)*100, b.Note)
		}
		bars = append(bars, b)
	}
	return barChart("Test loss on the hidden split (lower is better)", bars, "%.4f")
}

// curves draws each miner's training loss from the progress events that
// carry train_loss (x: the step when given, else the report's number).
func curves(evs []*crucible.TaskEvent) any {
	by := map[string]*series{}
	var order []string
	for _, e := range evs {
		l, ok := number(e.Data["train_loss"])
		if !ok || e.Kind != crucible.EventProgress {
			continue
		}
		s, ok := by[e.Hotkey]
		if !ok {
			s = &series{Name: e.Hotkey}
			by[e.Hotkey] = s
			order = append(order, e.Hotkey)
		}
		x, ok := number(e.Data["step"])
		if !ok {
			x = float64(len(s.Points) + 1)
		}
		s.Points = append(s.Points, [2]float64{x, l})
	}
	ss := make([]series, 0, len(order))
	for _, h := range order {
		ss = append(ss, *by[h])
	}
	return lineChart("Training loss per miner", "step", "train loss", ss)
}

// pageEvents is the task page's live stream; visibility as the page.
func (s *Server) pageEvents(w http.ResponseWriter, r *http.Request) {
	t, err := s.findTask(r.Context(), s.pageCaller(r), r.PathValue("id"))
	if err != nil {
		api.WriteError(w, err)
		return
	}
	after, err := afterID(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	s.streamEvents(w, r, t.ID, after)
}

func (s *Server) pageDownload(w http.ResponseWriter, r *http.Request) {
	c := s.pageCaller(r)
	if c == nil && !s.opt.PublicDownloads {
		s.pageError(w, r, crucible.Errorf(crucible.EUNAUTHORIZED, "log in to download"))
		return
	}
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err == nil {
		err = s.serveWinner(w, r, t)
	}
	if err != nil {
		s.pageError(w, r, err)
	}
}

func (s *Server) cancelTaskForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.mustLogin(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err == nil && !c.canChange(t) {
		err = crucible.Errorf(crucible.EFORBIDDEN, "task %s belongs to another account", t.ID)
	}
	if err == nil && t.Status.Terminal() {
		err = crucible.Errorf(crucible.ECONFLICT, "task %s has already finished (%s)", t.ID, t.Status)
	}
	if err == nil {
		err = s.b.Cancel(r.Context(), t)
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/tasks/"+t.ID, http.StatusSeeOther)
}
