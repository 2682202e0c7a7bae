package validator

import (
	"context"
	"encoding/json"
	"net/http"
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
	mapping := splitMapping(t)
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
			TaskID: t.ID, TaskType: t.Type, Model: t.Model,
			ModelURL:        v.link("models/"+t.Model, *t.TerminationAt),
			DatasetURL:      v.link(t.TrainData, *t.TerminationAt),
			Mapping:         &mapping,
			HoursToComplete: t.HoursToComplete,
			Deadline:        *t.TerminationAt,
			ExpectedName:    s.ExpectedName,
			UploadURL:       v.cfg.PublicURL + api.PathUpload + t.ID + "/" + s.ExpectedName,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 2*v.cfg.OfferTimeout)
			defer cancel()
			err := v.callMiner(cctx, n, http.MethodPost, api.PathStartTraining, req, nil)
			if crucible.ErrorCode(err) == crucible.ECONFLICT {
				err = nil // already started by an earlier attempt
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	started := 0
	for i, s := range subs {
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
			}
		}
		if waiting > 0 {
			return *t.TerminationAt, nil
		}
		v.event(ctx, t.ID, crucible.EventLog, "", "every miner has uploaded; evaluating before the deadline", nil)
	}
	return now, v.move(ctx, t, crucible.StatusPreevaluation, nil)
}

// splitMapping is the mapping of the prepared splits' columns.
func splitMapping(t *crucible.Task) crucible.ColumnMapping {
	var m crucible.ColumnMapping
	if raw, ok := t.Extra["split_mapping"]; ok {
		b, _ := json.Marshal(raw)
		json.Unmarshal(b, &m)
	}
	return m
}
