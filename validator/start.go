package validator

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// start fixes the training window, sends start_training to every miner that
// accepted, and moves the task to training. Re-sending after a crash is safe:
// a miner that already has the task answers with a conflict, which counts as
// started.
func (v *Validator) start(ctx context.Context, t *crucible.Task) error {
	if t.StartedAt == nil || t.TerminationAt == nil {
		now := v.Now()
		end := now.Add(time.Duration(t.HoursToComplete * float64(time.Hour)))
		t.StartedAt, t.TerminationAt = &now, &end
		if err := v.Store.UpdateTask(ctx, t); err != nil {
			if crucible.ErrorCode(err) == crucible.ECONFLICT {
				return nil
			}
			return err
		}
	}
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	mapping, err := v.splitMapping(ctx, t)
	if err != nil {
		return err
	}
	// Miners resume a broken download of the train split and check it
	// against its size and hash.
	size, sum, err := v.Blobs.Sum(ctx, t.TrainData)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(subs))
	for i, s := range subs {
		if s.StartedAt != nil || s.Failure != "" {
			continue
		}
		n, err := v.Store.FindNode(ctx, s.Hotkey)
		if err != nil {
			errs[i] = err
			continue
		}
		req := api.TrainRequest{
			DatasetSize: size, DatasetSHA256: sum,
			TaskID: t.ID, TaskType: t.Type, Model: t.Model,
			ModelURL:        v.link(modelKey(t.Model), *t.TerminationAt),
			DatasetURL:      v.link(t.TrainData, *t.TerminationAt),
			Mapping:         &mapping,
			Rewards:         t.Rewards,
			HoursToComplete: t.HoursToComplete,
			Deadline:        *t.TerminationAt,
			ExpectedName:    s.ExpectedName,
			UploadURL:       v.cfg.PublicURL + api.PathUpload + t.ID + "/" + s.ExpectedName,
			ResultsURL:      v.cfg.PublicURL + api.PathResults,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*v.cfg.OfferTimeout)
			defer cancel()
			_, err := v.Miners(n).StartTraining(cctx, req)
			if crucible.ErrorCode(err) == crucible.ECONFLICT {
				err = nil // already started by an earlier attempt
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	started := 0
	for i, s := range subs {
		// Read the submission again: a fast miner may have uploaded while the
		// starts were going out, and that must not be overwritten.
		fresh, err := v.Store.FindSubmission(ctx, s.TaskID, s.Hotkey)
		if err != nil {
			return err
		}
		s = fresh
		switch {
		case s.StartedAt != nil:
			started++
			continue
		case s.Failure != "":
			continue
		case errs[i] != nil:
			s.Failure = "start_training failed: " + errs[i].Error()
			v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		default:
			now := v.Now()
			s.StartedAt = &now
			started++
			v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, "training started", nil)
		}
		if err := v.Store.UpdateSubmission(ctx, s); err != nil {
			return err
		}
	}
	if started == 0 {
		return v.fail(ctx, t, crucible.StatusFailure, "no miner could be started")
	}
	return v.move(ctx, t, crucible.StatusTraining, nil)
}

// watch waits for the deadline, or for every started miner to have uploaded.
func (v *Validator) watch(ctx context.Context, t *crucible.Task) (time.Time, error) {
	now := v.Now()
	if t.TerminationAt != nil && now.Before(*t.TerminationAt) {
		subs, err := v.Store.FindSubmissions(ctx, t.ID)
		if err != nil {
			return time.Time{}, err
		}
		waiting := 0
		for _, s := range subs {
			if s.StartedAt != nil && s.UploadedAt == nil && s.Failure == "" {
				waiting++
				v.pollProgress(ctx, t, s)
			}
		}
		if waiting > 0 {
			return *t.TerminationAt, nil
		}
		v.event(ctx, t.ID, crucible.EventLog, "", "every miner has uploaded; evaluating before the deadline", nil)
	}
	return now, v.move(ctx, t, crucible.StatusPreevaluation, nil)
}

// pollProgress asks a training miner how it is doing and records what is
// new as a progress event (step, fraction of the budget, training loss), so
// customers can follow the run. A miner that does not answer is not failed
// for it: only its upload counts.
func (v *Validator) pollProgress(ctx context.Context, t *crucible.Task, s *crucible.Submission) {
	n, err := v.Store.FindNode(ctx, s.Hotkey)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, v.cfg.OfferTimeout)
	defer cancel()
	st, err := v.Miners(n).TaskStatus(cctx, t.ID)
	if err != nil {
		return
	}
	key := t.ID + "/" + s.Hotkey
	v.progressMu.Lock()
	last, seen := v.progress[key]
	changed := !seen || last.Step != st.Step || last.State != st.State || last.Message != st.Message
	if changed {
		v.progress[key] = st
	}
	v.progressMu.Unlock()
	if !changed {
		return
	}
	data := map[string]any{"state": st.State, "step": st.Step, "progress": st.Progress}
	msg := fmt.Sprintf("%s: %s", st.State, st.Message)
	if st.TrainLoss != nil {
		data["train_loss"] = *st.TrainLoss
		msg = fmt.Sprintf("%s: step %d, %.0f%%, train loss %.4f", st.State, st.Step, 100*st.Progress, *st.TrainLoss)
	}
	if st.TrainReward != nil {
		data["train_reward"] = *st.TrainReward
		msg = fmt.Sprintf("%s: step %d, %.0f%%, reward %.4f", st.State, st.Step, 100*st.Progress, *st.TrainReward)
	}
	v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, msg, data)
}
