package validatornode_test

import (
	"context"
	"testing"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
)

// TestCustomerTestSetPrepared submits a task with its own test set and
// hints: after preparation every row of the dataset is in the train split
// and the test split is the test set's rows; the hints stay on the task.
func TestCustomerTestSetPrepared(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testSet, err := localnet.SampleDataset(t.TempDir(), assets.Definitions, 17)
	if err != nil {
		t.Fatal(err)
	}
	task := f.task()
	task.TestDataset, task.Hints = testSet, &crucible.Hints{Epochs: 2, LR: 1e-4}
	if err := n.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n, task.ID, func(s crucible.TaskStatus) bool {
		return s != crucible.StatusPending && s != crucible.StatusPreparingData
	})
	got, err := n.Store().FindTask(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.TrainRows != 120 || got.TestRows != 17 || got.Hints == nil || got.Hints.Epochs != 2 {
		t.Errorf("prepared task: %d train rows, %d test rows, hints %+v (status %s, %s)", got.TrainRows, got.TestRows, got.Hints, got.Status, got.Failure)
	}
}
