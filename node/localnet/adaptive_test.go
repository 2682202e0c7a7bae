package localnet_test

import (
	"context"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/minernode"
)

// TestAdaptiveMinerLearns runs two tasks on one dataset: before the second,
// the adaptive miner has read the first's results from the validator's
// log (its own test loss instead of its estimate, and the other miner's
// published recipe with its loss), and it proposes from both.
func TestAdaptiveMinerLearns(t *testing.T) {
	// Each miner trains a few steps and uploads; a task is evaluated once
	// both have. The task's window is only the deadline, generous, so that
	// the outcome does not hang on how busy the machine is.
	net := startNet(t, []string{"adaptive", "full"}, nil, func(c *minernode.Config) { c.MaxSteps = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	data := facts(t, 160)
	var tasks []*crucible.Task
	for range 2 {
		task := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: data, HoursToComplete: (2 * time.Minute).Hours(), IsOrganic: true}
		if err := net.Validator.Submit(ctx, task); err != nil {
			t.Fatal(err)
		}
		done, err := net.Follow(ctx, task.ID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != crucible.StatusSuccess {
			t.Fatalf("task %s: %s %s", task.ID, done.Status, done.Failure)
		}
		tasks = append(tasks, done)
	}
	a := net.Miners[0].Adaptive()
	other := net.Miners[1].Key().Address()
	own, ok := a.History().Trial(tasks[0].ID)
	if !ok || own.Outcome == nil || own.Outcome.Proxy || own.Outcome.Loss == nil || own.Outcome.BaseLoss == nil || own.Outcome.Miners != 2 {
		t.Fatalf("the first task's trial after the second started: %+v", own)
	}
	subs, _ := net.Validator.Store().FindSubmissions(ctx, tasks[0].ID)
	for _, s := range subs {
		if s.Hotkey == net.Miners[0].Key().Address() && (s.TestLoss == nil || *s.TestLoss != *own.Outcome.Loss) {
			t.Errorf("trial loss %v, the validator's %v", *own.Outcome.Loss, s.TestLoss)
		}
	}
	pub, ok := a.History().Trial(tasks[0].ID + "/" + other)
	if !ok || pub.Own || !pub.Params.Full || pub.Outcome == nil || pub.Outcome.Loss == nil || pub.Strategy != "full" {
		t.Fatalf("the other miner's published recipe: %+v (ok %v)", pub, ok)
	}
	if pub.Features.Dataset == "" || pub.Features.Dataset != own.Features.Dataset || pub.Features.Rows != own.Features.Rows {
		t.Errorf("the two trials do not describe the same task: %+v / %+v", pub.Features, own.Features)
	}
	second, ok := a.History().Trial(tasks[1].ID)
	if !ok || second.Reason == "" || second.Outcome == nil {
		t.Fatalf("second trial %+v", second)
	}
	t.Logf("second task's choice: %s", second.Reason)
}
