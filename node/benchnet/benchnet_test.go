package benchnet

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun runs a small network (3 miners, 2 tasks, 200 tasks in the store)
// and checks that every figure was measured: each task's phases add up,
// the load reached every route without an error, memory was read.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network")
	}
	var progress bytes.Buffer
	// A validator that looks at a task only once a minute by itself: the
	// miners' uploads must move the task on (a step runs at once when a
	// miner uploads, even one that arrives while a step runs).
	cfg := Config{Miners: 3, Tasks: 2, StoreTasks: 200, Rate: 40, Dir: t.TempDir(), Poll: time.Minute, Progress: &progress}
	if u := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); u != "" {
		cfg.DB = u
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Tasks) != 2 {
		t.Fatalf("%d tasks measured, want 2", len(rep.Tasks))
	}
	for _, f := range rep.Tasks {
		if f.Start <= 0 || f.Collect <= 0 || f.Score <= 0 || f.Training <= 0 || f.Evaluation <= 0 {
			t.Errorf("task %s: a phase was not measured: %+v", f.ID, f)
		}
		if f.Evaluation > f.Score || f.Training > f.Start+f.Collect {
			t.Errorf("task %s: more taken out than its phase lasted: %+v", f.ID, f)
		}
		if f.Collect > 30*time.Second {
			t.Errorf("task %s: %s from training to evaluation with every miner done in seconds: uploads did not move it on", f.ID, f.Collect)
		}
		if f.Overhead != f.Start+f.Collect+f.Score-f.Training-f.Evaluation {
			t.Errorf("task %s: overhead does not add up: %+v", f.ID, f)
		}
	}
	if rep.Sent == 0 {
		t.Fatal("the load sent nothing")
	}
	for _, r := range rep.Routes {
		if rep.API[r].Count == 0 || rep.Errors[r] != 0 {
			t.Errorf("%s: %d answered, %d failed (first error: %s)", r, rep.API[r].Count, rep.Errors[r], rep.FirstErr)
		}
	}
	if p := rep.API["all"]; !(p.P50 > 0 && p.P50 <= p.P90 && p.P90 <= p.P99 && p.P99 <= p.Max) {
		t.Errorf("percentiles out of order: %+v", p)
	}
	if rep.HeapStart == 0 || rep.HeapEnd == 0 || len(rep.Memory) < 2 || rep.Memory[len(rep.Memory)-1].Heap != rep.HeapEnd {
		t.Errorf("memory not read: %+v", rep)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"overhead per task: median", "GET /v1/tasks?limit=20", "API p99 over all routes", "memory:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
	t.Logf("\n%s", out.String())
}
