package validator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// reoffer gives an open task whose miners all failed, lost it or vanished
// to other miners, while at least ReofferMin remains before its deadline
// (at most once a minute): the miners that never had it, and those that
// lost it and answer again (their part starts over under a new result
// name). They train for what is left of the budget, to the same deadline.
// It returns how many miners it started.
func (v *Validator) reoffer(ctx context.Context, t *crucible.Task, subs []*crucible.Submission) (int, error) {
	now := v.Now()
	left := t.TerminationAt.Sub(now)
	if t.Routed() || left < v.cfg.ReofferMin {
		return 0, nil
	}
	v.progressMu.Lock()
	last := v.reoffered[t.ID]
	if now.Sub(last) < time.Minute && !last.IsZero() {
		v.progressMu.Unlock()
		return 0, nil
	}
	v.reoffered[t.ID] = now
	v.progressMu.Unlock()

	pool, err := v.candidates(ctx, t)
	if err != nil {
		return 0, err
	}
	lost := map[string]*crucible.Submission{}
	for _, s := range subs {
		if s.Failure == failLost && s.UploadedAt == nil {
			if n, err := v.Store.FindNode(ctx, s.Hotkey); err == nil && n.IP != "" && n.Port != 0 {
				lost[s.Hotkey] = s
				pool = append(pool, n)
			}
		}
	}
	if len(pool) == 0 {
		return 0, nil
	}
	pool = pool[:min(len(pool), v.cfg.PoolMax)]
	offer := api.TaskOffer{TaskID: t.ID, TaskType: t.Type, Model: t.Model, ModelParamsCount: t.ModelParamsCount,
		DatasetSize: t.TrainRows, HoursToComplete: left.Hours()}
	answers := make([]api.OfferResponse, len(pool))
	var wg sync.WaitGroup
	for i, n := range pool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = v.sendOffer(ctx, n, offer)
		}()
	}
	wg.Wait()
	var took []*crucible.Submission
	var declined []string
	for i, n := range pool {
		a := answers[i]
		if err := v.Store.AddOfferResponse(ctx, &crucible.OfferResponse{TaskID: t.ID, Hotkey: n.Hotkey, Accepted: a.Accepted, Message: a.Message}); err != nil {
			return 0, err
		}
		if !a.Accepted {
			declined = append(declined, a.Message)
			continue
		}
		if s := lost[n.Hotkey]; s != nil {
			// Its part starts over: a new result name, so that nothing of the
			// lost run can be uploaded for it.
			s.Failure, s.StartedAt, s.ExpectedName = "", nil, newName()
			if err := v.Store.UpdateSubmission(ctx, s); err != nil {
				return 0, err
			}
			took = append(took, s)
		} else {
			s := &crucible.Submission{TaskID: t.ID, Hotkey: n.Hotkey, ExpectedName: newName()}
			if err := v.Store.CreateSubmission(ctx, s); err != nil {
				if crucible.ErrorCode(err) == crucible.ECONFLICT {
					continue
				}
				return 0, err
			}
			took = append(took, s)
		}
		v.event(ctx, t.ID, crucible.EventProgress, n.Hotkey, "accepted the task, offered again", nil)
	}
	if len(took) == 0 {
		v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("no miner trains the task any more; offered it again to %d miners, none took it (%s)",
			len(pool), strings.Join(declined, "; ")), nil)
		return 0, nil
	}
	started, err := v.sendStarts(ctx, t, took)
	if err != nil {
		return 0, err
	}
	v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("no miner trained the task any more; offered it again with %s left: %d of %d miners started",
		left.Round(time.Second), started, len(pool)), nil)
	return started, nil
}
