package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Watch follows a task from its start until it finishes: on a terminal,
// a status line and one progress bar per miner (share done, ETA, training
// loss) under a log of what happened; elsewhere, plain lines; with asJSON,
// the events as JSON lines.
func Watch(ctx context.Context, c *api.Client, id string, out io.Writer, asJSON bool) error {
	var status crucible.TaskStatus
	var err error
	if asJSON {
		enc := json.NewEncoder(out)
		status, err = c.Watch(ctx, id, 0, func(e *crucible.TaskEvent) error { return enc.Encode(e) })
	} else {
		w := newWatcher(c, id, out, IsTerminal(out))
		status, err = c.Watch(ctx, id, 0, func(e *crucible.TaskEvent) error { w.event(ctx, e); return nil })
		w.close(status)
	}
	if err != nil {
		return err
	}
	if status != crucible.StatusSuccess {
		return crucible.Errorf(crucible.ECONFLICT, "task %s ended %s", id, status)
	}
	return nil
}

// minerView is what the watcher knows of one miner's part.
type minerView struct {
	name      string
	progress  float64   // share of training done, 0..1
	start     time.Time // when its first training progress came
	at        time.Time // when its last progress came
	trainLoss float64   // NaN while unknown
	testLoss  float64   // NaN until evaluated
	state     string    // a short word: offered, training, uploaded, evaluated, failed
	bar       *mpb.Bar
	lastPlain float64 // progress at the last plain line
	printed   bool    // a plain progress line was printed
}

// eta is the time its training still needs, extrapolated from its pace;
// zero while unknown.
func (m *minerView) eta() time.Duration {
	if m.progress <= 0.01 || m.progress >= 1 || m.at.Sub(m.start) <= 0 {
		return 0
	}
	return time.Duration(float64(m.at.Sub(m.start)) * (1 - m.progress) / m.progress)
}

// watcher renders a task's events.
type watcher struct {
	c      *api.Client
	id     string
	out    io.Writer
	tty    bool
	p      *mpb.Progress
	header *mpb.Bar

	mu       sync.Mutex
	pending  []string // lines to print once mu is released (the display's refresh takes mu)
	status   crucible.TaskStatus
	deadline *time.Time
	miners   map[string]*minerView
	order    []string
	best     float64 // lowest train loss seen, NaN when none
	bestTest float64 // lowest test loss, NaN until evaluated
	baseLoss float64 // the base's test loss, NaN until measured
}

func newWatcher(c *api.Client, id string, out io.Writer, tty bool) *watcher {
	w := &watcher{c: c, id: id, out: out, tty: tty, miners: map[string]*minerView{}, best: math.NaN(), bestTest: math.NaN(), baseLoss: math.NaN()}
	if tty {
		w.p = mpb.New(mpb.WithOutput(out), mpb.WithWidth(100), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithAutoRefresh())
		w.header = w.p.New(0, mpb.NopStyle(), mpb.BarPriority(-1), mpb.PrependDecorators(decor.Any(func(decor.Statistics) string {
			return w.headline()
		})))
	}
	return w
}

// headline is the status line: the task's status, time to its deadline and
// the best loss so far.
func (w *watcher) headline() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := fmt.Sprintf("task %s  %s", ShortID(w.id), OrDash(string(w.status)))
	if w.deadline != nil && w.status == crucible.StatusTraining {
		if left := time.Until(*w.deadline); left > 0 {
			s += fmt.Sprintf("  deadline in %s", left.Round(time.Second))
		}
	}
	switch {
	case !math.IsNaN(w.bestTest):
		s += fmt.Sprintf("  best test loss %.4f", w.bestTest)
		if !math.IsNaN(w.baseLoss) {
			s += fmt.Sprintf(" (base %.4f)", w.baseLoss)
		}
	case !math.IsNaN(w.best):
		s += fmt.Sprintf("  best train loss %.4f", w.best)
	}
	return s
}

// log queues a line to print above the bars (or as is); w.mu is held.
func (w *watcher) log(at time.Time, format string, args ...any) {
	w.pending = append(w.pending, at.Local().Format("15:04:05")+"  "+fmt.Sprintf(format, args...)+"\n")
}

// flush prints the queued lines; w.mu is not held, since the display's
// refresh, which printing above the bars waits for, takes it.
func (w *watcher) flush() {
	w.mu.Lock()
	lines := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, l := range lines {
		if w.p != nil {
			w.p.Write([]byte(l))
		} else {
			io.WriteString(w.out, l)
		}
	}
}

// miner returns the view of hotkey; w.mu is held. ensureMiner made it.
func (w *watcher) miner(hotkey string) *minerView { return w.miners[hotkey] }

// ensureMiner adds a view (and its bar) for hotkey when it is new. w.mu is
// not held: adding a bar waits for the display, whose refresh takes w.mu.
func (w *watcher) ensureMiner(hotkey string) {
	w.mu.Lock()
	if _, ok := w.miners[hotkey]; ok {
		w.mu.Unlock()
		return
	}
	m := &minerView{name: ShortKey(hotkey), trainLoss: math.NaN(), testLoss: math.NaN(), state: "offered"}
	w.miners[hotkey] = m
	w.order = append(w.order, hotkey)
	w.mu.Unlock()
	if w.p == nil {
		return
	}
	bar := w.p.New(1000, mpb.BarStyle().Lbound("[").Rbound("]").Filler("=").Tip(">").Padding(" "),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%-12s", m.name) })),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return w.minerTail(m) })),
		mpb.BarWidth(28))
	w.mu.Lock()
	m.bar = bar
	w.mu.Unlock()
}

// minerTail is what follows a miner's bar: its state, share, ETA and loss.
func (w *watcher) minerTail(m *minerView) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := fmt.Sprintf("%3.0f%%", 100*m.progress)
	if eta := m.eta(); eta > 0 && m.state == "training" {
		s += fmt.Sprintf("  ETA %s", eta.Round(time.Second))
	}
	if !math.IsNaN(m.testLoss) {
		s += fmt.Sprintf("  test loss %.4f", m.testLoss)
	} else if !math.IsNaN(m.trainLoss) {
		s += fmt.Sprintf("  train loss %.4f", m.trainLoss)
	}
	return s + "  " + m.state
}

// event takes one event of the task.
func (w *watcher) event(ctx context.Context, e *crucible.TaskEvent) {
	var detail string
	if e.Kind == crucible.EventStatus && (e.ToStatus == crucible.StatusDelayed || e.ToStatus == crucible.StatusTraining || e.ToStatus.Terminal()) {
		detail = w.statusDetail(ctx, e.ToStatus)
	}
	if e.Hotkey != "" {
		w.ensureMiner(e.Hotkey)
	}
	var move *mpb.Bar
	var to int64
	w.mu.Lock()
	switch {
	case e.Kind == crucible.EventStatus:
		w.status = e.ToStatus
		line := fmt.Sprintf("status %s", e.ToStatus)
		if e.FromStatus != "" {
			line = fmt.Sprintf("status %s → %s", e.FromStatus, e.ToStatus)
		}
		if e.Message != "" && e.Message != "task created" {
			line += ": " + e.Message
		}
		w.log(e.CreatedAt, "%s", line+detail)
	case e.Hotkey != "":
		move, to = w.minerEvent(e)
	default:
		if l, ok := e.Data["base_loss"].(float64); ok {
			w.baseLoss = l
		}
		w.log(e.CreatedAt, "%s", e.Message)
	}
	w.mu.Unlock()
	if move != nil {
		move.SetCurrent(to)
	}
	w.flush()
}

// statusDetail (w.mu not held) reads the task for what a status change alone does not say:
// when a delayed task is offered again, a running task's deadline, why a
// task failed.
func (w *watcher) statusDetail(ctx context.Context, s crucible.TaskStatus) string {
	t, err := w.c.Task(ctx, w.id)
	if err != nil {
		return ""
	}
	w.mu.Lock()
	w.deadline = t.TerminationAt
	w.mu.Unlock()
	switch {
	case s == crucible.StatusDelayed && t.NextDelayAt != nil:
		return fmt.Sprintf(" (no miner took it yet; offered again at %s, in %s; delay %d)", t.NextDelayAt.Local().Format("15:04:05"),
			time.Until(*t.NextDelayAt).Round(time.Second), t.TimesDelayed)
	case s == crucible.StatusTraining && t.TerminationAt != nil:
		return fmt.Sprintf(" (deadline %s, in %s)", t.TerminationAt.Local().Format("15:04:05"), time.Until(*t.TerminationAt).Round(time.Second))
	case s.Terminal() && t.Failure != "":
		return " (" + t.Failure + ")"
	}
	return ""
}

// minerEvent updates a miner's view; lines worth reading (accepted,
// declined, failures, uploads, test losses) are logged, training progress
// moves the bar (plain output: the first line, then one every tenth of the
// way). It returns the bar to move and where to, to do once w.mu is
// released.
func (w *watcher) minerEvent(e *crucible.TaskEvent) (*mpb.Bar, int64) {
	m := w.miner(e.Hotkey)
	msg := readableMinerMessage(e.Message)
	if frac, ok := e.Data["progress"].(float64); ok {
		if m.start.IsZero() {
			m.start = e.CreatedAt
		}
		m.progress, m.at, m.state = frac, e.CreatedAt, "training"
		if l, ok := e.Data["train_loss"].(float64); ok {
			m.trainLoss = l
			if math.IsNaN(w.best) || l < w.best {
				w.best = l
			}
		}
		if st, _ := e.Data["state"].(string); st != "" && st != "training" {
			m.state = st
		}
		if m.bar != nil {
			return m.bar, int64(1000 * math.Min(frac, 1))
		}
		if !m.printed || frac-m.lastPlain >= 0.1 || frac >= 1 && m.lastPlain < 1 {
			m.lastPlain, m.printed = frac, true
			line := fmt.Sprintf("%-12s %3.0f%%", m.name, 100*frac)
			if eta := m.eta(); eta > 0 {
				line += fmt.Sprintf(", ETA %s", eta.Round(time.Second))
			}
			if !math.IsNaN(m.trainLoss) {
				line += fmt.Sprintf(", train loss %.4f", m.trainLoss)
			}
			w.log(e.CreatedAt, "%s", line)
		}
		return nil, 0
	}
	switch {
	case strings.HasPrefix(msg, "accepted"):
		m.state = "accepted"
	case e.Message == "training started":
		m.state = "training"
	case e.Message == "result uploaded":
		m.state, m.progress = "uploaded", 1
	case strings.HasPrefix(e.Message, "evaluating"):
		m.state = "evaluating"
	}
	if l, ok := e.Data["test_loss"].(float64); ok {
		m.testLoss, m.state = l, "evaluated"
		if math.IsNaN(w.bestTest) || l < w.bestTest {
			w.bestTest = l
		}
	} else if isFailure(e.Message) {
		m.state = "failed"
	}
	w.log(e.CreatedAt, "%-12s %s", m.name, msg)
	if m.bar != nil && m.progress >= 1 {
		return m.bar, 1000
	}
	return nil, 0
}

// isFailure tells a miner's failure from its other messages.
func isFailure(msg string) bool {
	for _, p := range []string{"declined", "no result", "not a fine-tune", "failed", "refused", "unreachable", "did not", "lost"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// readableMinerMessage rewrites the transport errors a validator records
// when a miner does not answer into what happened.
func readableMinerMessage(msg string) string {
	prefix, rest, ok := strings.Cut(msg, "no answer: ")
	if !ok {
		return msg
	}
	switch {
	case strings.Contains(rest, "connection refused"):
		return prefix + "unreachable (nothing listens at its address; the miner is down)"
	case strings.Contains(rest, "deadline exceeded") || strings.Contains(rest, "timeout"):
		return prefix + "did not answer in time"
	case strings.Contains(rest, "no such host"):
		return prefix + "unreachable (its address does not resolve)"
	case strings.Contains(rest, "EOF") || strings.Contains(rest, "reset by peer"):
		return prefix + "dropped the connection"
	}
	return msg
}

// close ends the display with the task's result.
func (w *watcher) close(status crucible.TaskStatus) {
	if w.p != nil {
		w.mu.Lock()
		if status != "" {
			w.status = status
		}
		bars := []*mpb.Bar{w.header}
		for _, h := range w.order {
			bars = append(bars, w.miners[h].bar)
		}
		w.mu.Unlock()
		for _, b := range bars {
			b.SetTotal(-1, true)
		}
		w.p.Wait()
	}
	if status == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	line := fmt.Sprintf("task %s finished: %s", w.id, status)
	if !math.IsNaN(w.bestTest) {
		line += fmt.Sprintf(", best test loss %.4f", w.bestTest)
		if !math.IsNaN(w.baseLoss) && w.baseLoss > 0 {
			line += fmt.Sprintf(" against the base's %.4f (%.1f%% lower)", w.baseLoss, 100*(w.baseLoss-w.bestTest)/w.baseLoss)
		}
	}
	fmt.Fprintln(w.out, line)
	if status == crucible.StatusSuccess {
		fmt.Fprintf(w.out, "results: crucible tasks results %s; the model: crucible tasks download %s\n", ShortID(w.id), ShortID(w.id))
	}
}
