package validator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// CheckTask fills in a new task's defaults (the validator's time budget
// when it names none) and checks it: its fields, and that its base model
// resolves. Returns EINVALID or ENOTFOUND. It stores nothing: the node
// stores the task and queues its first Step in one transaction.
func (v *Validator) CheckTask(ctx context.Context, t *crucible.Task) error {
	if t.HoursToComplete == 0 {
		t.HoursToComplete = v.cfg.DefaultHours
	}
	if err := t.Validate(); err != nil {
		return err
	}
	if _, err := v.Models.ResolveModel(ctx, t.Model); err != nil {
		return err
	}
	return v.route(ctx, t)
}

// route decides how a new task finds its miners. A customer's task goes to
// the current champion's miner unless the customer asked for an open
// competition (or there is no champion yet); the validator's own tasks are
// open competitions; a tournament's tasks name their tournament and
// members.
func (v *Validator) route(ctx context.Context, t *crucible.Task) error {
	switch {
	case t.Competition == crucible.CompetitionTournament:
		if t.Tournament == "" || len(t.Assignees) == 0 {
			return crucible.Errorf(crucible.EINVALID, "a tournament task needs its tournament and its match's members")
		}
		return nil
	case len(t.Assignees) > 0 || t.Tournament != "":
		return crucible.Errorf(crucible.EINVALID, "only a tournament task names its miners")
	case !t.IsOrganic || t.Competition == crucible.CompetitionOpen:
		return nil
	}
	c, err := v.Champion(ctx)
	switch {
	case crucible.ErrorCode(err) == crucible.ENOTFOUND:
		t.Competition = crucible.CompetitionOpen // nobody holds the title yet
		return nil
	case err != nil:
		return err
	}
	t.Competition, t.Assignees = crucible.CompetitionChampion, []string{c.Hotkey}
	return nil
}

// Step does the next piece of work on a task and returns when it wants to
// be called again: a time at or before now means at once, the zero time
// means never (the task is finished). Every step is idempotent, so calling
// Step again after a crash, or twice, is safe.
func (v *Validator) Step(ctx context.Context, taskID string) (next time.Time, err error) {
	t, err := v.Store.FindTask(ctx, taskID)
	if err != nil {
		return time.Time{}, err
	}
	now := v.Now()
	switch t.Status {
	case crucible.StatusPending:
		return now, v.move(ctx, t, crucible.StatusPreparingData, nil)
	case crucible.StatusPreparingData:
		return now, v.prepare(ctx, t)
	case crucible.StatusLookingForNodes:
		return v.offer(ctx, t)
	case crucible.StatusDelayed:
		if t.NextDelayAt != nil && now.Before(*t.NextDelayAt) {
			return *t.NextDelayAt, nil
		}
		return now, v.move(ctx, t, crucible.StatusLookingForNodes, nil)
	case crucible.StatusReady:
		return now, v.start(ctx, t)
	case crucible.StatusTraining:
		return v.watch(ctx, t)
	case crucible.StatusPreevaluation:
		return now, v.move(ctx, t, crucible.StatusEvaluating, func(t *crucible.Task) { t.EvalAttempts++ })
	case crucible.StatusEvaluating:
		return v.evaluate(ctx, t)
	}
	if t.Status.Terminal() {
		v.forget(t.ID) // also a task cancelled outside the lifecycle
		return time.Time{}, nil
	}
	return time.Time{}, crucible.Errorf(crucible.EINTERNAL, "task %s has unknown status %q", t.ID, t.Status)
}

// Run steps a task until it finishes or ctx ends, waiting as the steps ask.
// The durable queue is the production driver; Run serves tests and tools.
func (v *Validator) Run(ctx context.Context, taskID string, wake <-chan struct{}) error {
	for {
		next, err := v.Step(ctx, taskID)
		if err != nil {
			return err
		}
		if next.IsZero() {
			return nil
		}
		if d := next.Sub(v.Now()); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-wake:
			case <-timer.C:
			}
			timer.Stop()
		}
	}
}

// move saves a status change, applying mutate first. A concurrent change
// (another worker or a cancellation saved the task since it was read) is not
// an error for the lifecycle: the next Step reads the task again. A
// transition the lifecycle does not allow is an error.
func (v *Validator) move(ctx context.Context, t *crucible.Task, to crucible.TaskStatus, mutate func(*crucible.Task)) error {
	version := t.Version
	if mutate != nil {
		mutate(t)
	}
	t.Status = to
	if to.Terminal() {
		now := v.Now()
		t.CompletedAt = &now
	}
	if err := v.Store.UpdateTask(ctx, t); err != nil {
		if crucible.ErrorCode(err) == crucible.ECONFLICT {
			if cur, ferr := v.Store.FindTask(ctx, t.ID); ferr == nil && cur.Version != version {
				v.Log.Info("task changed concurrently; will re-read", "task", t.ID, "err", err)
				return nil
			}
		}
		return err
	}
	v.Log.Info("task status", "task", t.ID, "status", to)
	if to.Terminal() {
		v.forget(t.ID)
	}
	if to.Terminal() && t.Tournament != "" && v.KickTournament != nil {
		v.KickTournament(t.Tournament)
	}
	return nil
}

// forget drops what the validator kept in memory about a task's miners
// (their last reports, since when they are unreachable, the last re-offer)
// once the task has ended: nothing reads it after, and a validator that
// runs for months would otherwise keep it for every task it ever ran.
func (v *Validator) forget(taskID string) {
	prefix := taskID + "/"
	v.progressMu.Lock()
	defer v.progressMu.Unlock()
	for k := range v.progress {
		if strings.HasPrefix(k, prefix) {
			delete(v.progress, k)
		}
	}
	for k := range v.unreachable {
		if strings.HasPrefix(k, prefix) {
			delete(v.unreachable, k)
		}
	}
	delete(v.reoffered, taskID)
}

// fail ends a task with a reason.
func (v *Validator) fail(ctx context.Context, t *crucible.Task, to crucible.TaskStatus, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	return v.move(ctx, t, to, func(t *crucible.Task) { t.Failure = reason })
}

// The blob names of the splits' token files, beside train.jsonl and
// test.jsonl. The test split's is never served, as test.jsonl is not.
const (
	trainTokensName = "train.tokens.safetensors"
	testTokensName  = "test.tokens.safetensors"
)

// prepare loads, maps and splits the dataset (planting honeypots in a
// synthetic task's splits), stores both splits, and records how to read
// them in the task's evaluation record.
func (v *Validator) prepare(ctx context.Context, t *crucible.Task) error {
	dir, err := tempDir("crucible-prep-")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	var hp *crucible.Honeypot
	if !t.IsOrganic {
		// A synthetic task's dataset is public: plant honeypots so that
		// training on the original does not pay.
		h := NewHoneypot(t.ID, v.cfg.Seed)
		hp = &h
	}
	p, err := v.Preparer.Prepare(ctx, t, dir, hp)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return v.fail(ctx, t, crucible.StatusPrepTaskFailure, "preparing data: %s", errText(err))
	}
	trainKey, testKey := "tasks/"+t.ID+"/train.jsonl", "tasks/"+t.ID+"/test.jsonl"
	if err := v.putFile(ctx, trainKey, p.TrainPath); err != nil {
		return err
	}
	if err := v.putFile(ctx, testKey, p.TestPath); err != nil {
		return err
	}
	rec := &crucible.Evaluation{TaskID: t.ID, SplitMapping: &p.Mapping, Honeypot: hp}
	if p.TrainTokensPath != "" && p.TestTokensPath != "" {
		rec.TrainTokens, rec.TestTokens = "tasks/"+t.ID+"/"+trainTokensName, "tasks/"+t.ID+"/"+testTokensName
		if err := v.putFile(ctx, rec.TrainTokens, p.TrainTokensPath); err != nil {
			return err
		}
		if err := v.putFile(ctx, rec.TestTokens, p.TestTokensPath); err != nil {
			return err
		}
	}
	if err := v.Store.SaveEvaluation(ctx, rec); err != nil {
		return err
	}
	v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("dataset split: %d train rows for miners, %d hidden test rows", p.TrainRows, p.TestRows), nil)
	if p.Reason != "" {
		v.event(ctx, t.ID, crucible.EventLog, "", p.Reason, nil)
	}
	return v.move(ctx, t, crucible.StatusLookingForNodes, func(t *crucible.Task) {
		t.TrainData, t.TestData = trainKey, testKey
		t.TrainRows, t.TestRows = p.TrainRows, p.TestRows
		src := p.SourceMapping
		t.Mapping = &src
		t.ModelParamsCount = p.ModelParams
		t.TrainTokens = p.TrainTokens
		if t.HoursToComplete == 0 {
			t.HoursToComplete = HoursFor(p.TrainRows)
		}
	})
}

// evaluation returns the task's evaluation record, or a new one when none
// was saved yet.
func (v *Validator) evaluation(ctx context.Context, t *crucible.Task) (*crucible.Evaluation, error) {
	e, err := v.Store.FindEvaluation(ctx, t.ID)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return &crucible.Evaluation{TaskID: t.ID}, nil
	}
	return e, err
}

// errText is the message of a domain error, or the text of another.
func errText(err error) string {
	var e *crucible.Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return err.Error()
}
