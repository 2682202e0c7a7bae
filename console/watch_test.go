package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// watchEvents is a task's life as a validator records it: a delayed offer
// (one miner down), training with progress, a failure, evaluation.
func watchEvents(t0 time.Time) []*crucible.TaskEvent {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	a, b := "5Alice11111111111111111111111111111111111111111111", "5Bob2222222222222222222222222222222222222222222222"
	return []*crucible.TaskEvent{
		{Kind: crucible.EventStatus, ToStatus: crucible.StatusPending, Message: "task created", CreatedAt: at(0)},
		{Kind: crucible.EventStatus, FromStatus: crucible.StatusLookingForNodes, ToStatus: crucible.StatusDelayed, CreatedAt: at(1)},
		{Kind: crucible.EventProgress, Hotkey: b, Message: "declined: no answer: Post \"http://127.0.0.1:7001/v1/node/offer\": dial tcp 127.0.0.1:7001: connect: connection refused", CreatedAt: at(1)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "accepted the task", CreatedAt: at(12)},
		{Kind: crucible.EventStatus, FromStatus: crucible.StatusReady, ToStatus: crucible.StatusTraining, CreatedAt: at(13)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "training: step 1", Data: map[string]any{"state": "training", "progress": 0.05, "step": 1.0, "train_loss": 6.1}, CreatedAt: at(15)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "training: step 9", Data: map[string]any{"state": "training", "progress": 0.5, "step": 9.0, "train_loss": 3.2}, CreatedAt: at(60)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "training: step 10", Data: map[string]any{"state": "training", "progress": 0.55, "step": 10.0, "train_loss": 3.1}, CreatedAt: at(65)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "result uploaded", CreatedAt: at(110)},
		{Kind: crucible.EventLog, Message: "base model test loss 6.1700", Data: map[string]any{"base_loss": 6.17}, CreatedAt: at(115)},
		{Kind: crucible.EventProgress, Hotkey: a, Message: "test loss 2.0800", Data: map[string]any{"test_loss": 2.08}, CreatedAt: at(120)},
		{Kind: crucible.EventStatus, FromStatus: crucible.StatusEvaluating, ToStatus: crucible.StatusSuccess, CreatedAt: at(121)},
	}
}

// taskServer answers GET /v1/tasks/ID with task.
func taskServer(t *testing.T, task *crucible.Task) *api.Client {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(task)
	}))
	t.Cleanup(ts.Close)
	return api.NewClient(ts.URL, "crk_test")
}

// TestWatchPlainLines checks what --watch prints when stdout is not a
// terminal: one line per thing that happened, the delay with its retry
// time, a dead miner in words, training progress every tenth with ETA and
// loss (each once), and the result against the base.
func TestWatchPlainLines(t *testing.T) {
	next := time.Now().Add(30 * time.Second)
	c := taskServer(t, &crucible.Task{ID: "0a1b2c3d-aaaa", NextDelayAt: &next, TimesDelayed: 1})
	var out bytes.Buffer
	w := newWatcher(c, "0a1b2c3d-aaaa", &out, false)
	for _, e := range watchEvents(time.Now()) {
		w.event(context.Background(), e)
	}
	w.close(crucible.StatusSuccess)
	s := out.String()
	for _, want := range []string{
		"status looking_for_nodes → delayed (no miner took it yet; offered again at",
		"declined: unreachable (nothing listens at its address; the miner is down)",
		"accepted the task",
		"  5%, train loss 6.1000",
		" 50%, ETA 45s, train loss 3.2000",
		"result uploaded",
		"test loss 2.0800",
		"finished: success, best test loss 2.0800 against the base's 6.1700 (66.3% lower)",
		"crucible tasks download 0a1b2c3d",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("watch output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "connection refused") || strings.Contains(s, " 55%") || strings.Count(s, "3.1000") > 0 {
		t.Errorf("watch output repeats itself or shows raw errors:\n%s", s)
	}
	if testing.Verbose() {
		t.Log("\n" + s)
	}
}

// TestWatchBars checks the terminal display: a bar per miner with its
// share, ETA and loss, under the status line with the best loss.
func TestWatchBars(t *testing.T) {
	c := taskServer(t, &crucible.Task{ID: "0a1b2c3d-aaaa"})
	var out lockedBuffer
	w := newWatcher(c, "0a1b2c3d-aaaa", &out, true)
	evs := watchEvents(time.Now())
	for _, e := range evs[:8] {
		w.event(context.Background(), e)
	}
	// What a person sees mid-run: wait for a refresh that shows the bar.
	var mid string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if mid = out.String(); strings.Contains(mid, "55%") && strings.Contains(mid, "best train loss") {
			break
		}
	}
	for _, e := range evs[8:] {
		w.event(context.Background(), e)
	}
	w.close(crucible.StatusSuccess)
	for _, want := range []string{"5Alic", "55%", "ETA", "train loss 3.1000", "best train loss 3.1000", "status ready → training"} {
		if !strings.Contains(mid, want) {
			t.Errorf("display mid-run lacks %q:\n%s", want, mid)
		}
	}
	if !strings.Contains(out.String(), "finished: success") {
		t.Errorf("no result line:\n%s", out.String())
	}
}

// lockedBuffer is a bytes.Buffer the display may write while a test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
