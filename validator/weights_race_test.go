package validator_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/validator"
)

// scoresHook calls after once, just after the first scores are stored.
type scoresHook struct {
	validator.Store
	once  sync.Once
	after func()
}

func (s *scoresHook) AddScores(ctx context.Context, scores []*crucible.Score) error {
	err := s.Store.AddScores(ctx, scores)
	s.once.Do(s.after)
	return err
}

// TestWeightsNeverCountAnUnloggedTask sets weights while a task is being
// scored, between its scores being stored and its results being logged: the
// published weights must still follow from the log before them, or an
// auditor flags them.
func TestWeightsNeverCountAnUnloggedTask(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Good", trainer("0.8"))
	n.addMiner("5Better", trainer("0.6"))
	ctx := context.Background()
	set := make(chan error, 1)
	n.deps.Store = &scoresHook{Store: n.store, after: func() {
		go func() {
			_, err := n.v.SetWeights(ctx)
			set <- err
		}()
		// Give the weights every chance to be set now, in the middle of
		// the scoring; a validator that keeps the two apart makes them wait.
		select {
		case err := <-set:
			set <- err
		case <-time.After(time.Second):
		}
	}}
	n.restart()
	task := n.run(n.submit("facts.jsonl", 0.01).ID)
	if task.Status != crucible.StatusSuccess {
		t.Fatalf("task %s: %s", task.Status, task.Failure)
	}
	if err := <-set; err != nil {
		t.Fatal(err)
	}
	auditOK(t, n, 1)
}

// cutAfterScores stores the scores and then fails, like a validator
// stopped between storing a task's scores and logging its results.
type cutAfterScores struct {
	validator.Store
	cut bool
}

func (s *cutAfterScores) AddScores(ctx context.Context, scores []*crucible.Score) error {
	if err := s.Store.AddScores(ctx, scores); err != nil || !s.cut {
		return err
	}
	return crucible.Errorf(crucible.EINTERNAL, "stopped")
}

// TestWeightsWaitForTheTaskToBeLogged sets weights after a validator was
// stopped between storing a task's scores and logging it: they leave the
// task out until the resumed lifecycle logs it, and an auditor finds every
// weight set in the log to follow from the entries before it.
func TestWeightsWaitForTheTaskToBeLogged(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Good", trainer("0.8"))
	n.addMiner("5Better", trainer("0.6"))
	ctx := context.Background()
	cut := &cutAfterScores{Store: n.store, cut: true}
	n.deps.Store = cut
	n.restart()
	task := n.submit("facts.jsonl", 0.01)
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.v.Run(rctx, task.ID, n.wake); err == nil {
		t.Fatal("the cut run finished")
	}
	if scores, _ := n.store.FindScoresSince(ctx, time.Time{}); len(scores) != 2 {
		t.Fatalf("%d scores stored before the cut", len(scores))
	}
	if w, err := n.v.SetWeights(ctx); err != nil || len(w) != 0 {
		t.Fatalf("weights before the task is logged: %v %v", w, err)
	}
	cut.cut = false
	n.restart()
	if done := n.run(task.ID); done.Status != crucible.StatusSuccess {
		t.Fatalf("task %s: %s", done.Status, done.Failure)
	}
	if w, err := n.v.SetWeights(ctx); err != nil || len(w) != 1 || w[0].Hotkey != "5Better" {
		t.Fatalf("weights once the task is logged: %v %v", w, err)
	}
	auditOK(t, n, 2)
}

// auditOK runs an auditor over the validator's log.
func auditOK(t *testing.T, n *network, weightSets int) {
	t.Helper()
	ctx := context.Background()
	entries, err := n.store.FindResults(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auditor.New(auditor.Config{ValidatorHotkey: validatorKey(t).Address()}, auditor.Deps{Source: memLog(entries), Verify: sign.VerifySignature})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.WeightSets != weightSets || r.Tasks != 1 {
		t.Fatalf("audit of the log: %+v", r)
	}
}

// memLog serves a results log from memory.
type memLog []*crucible.ResultEntry

func (l memLog) Results(_ context.Context, after int64) ([]*crucible.ResultEntry, error) {
	var out []*crucible.ResultEntry
	for _, e := range l {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l memLog) Artifact(context.Context, string) (io.ReadCloser, error) {
	return nil, crucible.Errorf(crucible.ENOTFOUND, "no artifacts")
}
