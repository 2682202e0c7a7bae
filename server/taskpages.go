package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

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
	// WinnerAdapter is set when the winner is a LoRA adapter: the page
	// offers it merged into its base beside the adapter.
	WinnerAdapter bool
	// TestName is the customer's own test set's file name (owners only).
	TestName string
	Hints    string // the hyperparameter hints, in words
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
	for _, m := range res.Miners {
		if _, merges := s.b.(deliverer); merges && m.Winner && m.IsAdapter {
			v.WinnerAdapter = true
		}
	}
	if t.TestDataset != "" && v.Owner {
		if up, err := s.b.FindUpload(r.Context(), t.AccountID, strings.TrimPrefix(t.TestDataset, "upload:")); err == nil {
			v.TestName = up.Name
		}
	}
	v.Hints = hintsText(t.Hints)
	v.LossChart = lossChart(res)
	v.Curves = curves(evs)
	if t.Type == crucible.TaskGRPO {
		v.IsGRPO = true
		v.LossChart, v.Curves = rewardChart(res), rewardCurves(evs)
		v.RewardNames, v.RewardRows = rewardTable(res)
	}
	s.render(w, r, http.StatusOK, "task", view{Title: "Task " + short(t.ID, 12), Nav: "tasks", Page: v})
}

// hintsText writes hyperparameter hints in words; "" for none.
func hintsText(h *crucible.Hints) string {
	if h.Empty() {
		return ""
	}
	var parts []string
	if h.LoRA != nil {
		parts = append(parts, map[bool]string{true: "LoRA", false: "full fine-tuning"}[*h.LoRA])
	}
	add := func(ok bool, format string, v any) {
		if ok {
			parts = append(parts, fmt.Sprintf(format, v))
		}
	}
	add(h.LoRARank > 0, "rank %d", h.LoRARank)
	add(h.LR > 0, "learning rate %g", h.LR)
	add(h.Epochs > 0, "%g epochs", h.Epochs)
	add(h.BatchSize > 0, "batch %d", h.BatchSize)
	add(h.MaxLength > 0, "%d tokens", h.MaxLength)
	return strings.Join(parts, ", ")
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
	return progressChart(evs, "train_loss", "Training loss per miner", "train loss")
}

// progressChart draws one line per miner of a figure (key) its progress
// events carry, against the step when given, else the report's number.
func progressChart(evs []*crucible.TaskEvent, key, title, ylabel string) any {
	by := map[string]*series{}
	var order []string
	for _, e := range evs {
		y, ok := number(e.Data[key])
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
		s.Points = append(s.Points, [2]float64{x, y})
	}
	ss := make([]series, 0, len(order))
	for _, h := range order {
		ss = append(ss, *by[h])
	}
	return lineChart(title, "step", ylabel, ss)
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
