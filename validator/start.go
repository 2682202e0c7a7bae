package validator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

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
	started, err := v.sendStarts(ctx, t, subs)
	if err != nil {
		return err
	}
	if started == 0 {
		return v.fail(ctx, t, crucible.StatusFailure, "no miner could be started: %s", summarizeFailures(subs))
	}
	return v.move(ctx, t, crucible.StatusTraining, nil)
}

// sendStarts sends start_training to every submission of subs that has not
// started or failed, records who started (or why not, as the submission's
// failure), and returns how many of subs stand started.
func (v *Validator) sendStarts(ctx context.Context, t *crucible.Task, subs []*crucible.Submission) (int, error) {
	rec, err := v.evaluation(ctx, t)
	if err != nil {
		return 0, err
	}
	if rec.SplitMapping == nil {
		return 0, crucible.Errorf(crucible.EINTERNAL, "task %s has no prepared splits' mapping", t.ID)
	}
	mapping := *rec.SplitMapping
	// Miners resume a broken download of the train split and check it
	// against its size and hash.
	size, sum, err := v.Blobs.Sum(ctx, t.TrainData)
	if err != nil {
		return 0, err
	}
	hours := t.HoursToComplete
	if left := t.TerminationAt.Sub(v.Now()).Hours(); left < hours {
		hours = max(left, 0) // a task re-offered late: what is left of it
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
			TokensURL:       v.tokensLink(rec.TrainTokens, *t.TerminationAt),
			Mapping:         &mapping,
			Rewards:         t.Rewards,
			Hints:           t.Hints,
			HoursToComplete: hours,
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
			return 0, err
		}
		subs[i] = fresh
		s = fresh
		switch {
		case s.StartedAt != nil:
			started++
			continue
		case s.Failure != "":
			continue
		case errs[i] != nil:
			s.Failure = "start_training failed: " + errText(errs[i])
			v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		default:
			now := v.Now()
			s.StartedAt = &now
			started++
			v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, "training started", nil)
		}
		if err := v.Store.UpdateSubmission(ctx, s); err != nil {
			return 0, err
		}
	}
	return started, nil
}

// watch waits for the deadline, or for every started miner to have
// uploaded or failed. It asks each training miner how it does: a miner that
// reports a failure, or no longer knows the task (it lost it in a
// restart), is failed with what it said; one that stays unreachable no
// longer counts as training. When no miner trains the task any more and
// none uploaded, the task is offered to other miners while enough time
// remains (reoffer).
func (v *Validator) watch(ctx context.Context, t *crucible.Task) (time.Time, error) {
	now := v.Now()
	if t.TerminationAt != nil && now.Before(*t.TerminationAt) {
		subs, err := v.Store.FindSubmissions(ctx, t.ID)
		if err != nil {
			return time.Time{}, err
		}
		waiting, live, uploaded := 0, 0, 0
		var training []*crucible.Submission
		for _, s := range subs {
			if s.UploadedAt != nil {
				uploaded++
			}
			if s.StartedAt == nil || s.UploadedAt != nil || s.Failure != "" {
				continue
			}
			training = append(training, s)
		}
		// The miners are asked at the same time (a few at once): one slow
		// to answer holds up none of the others.
		alive := make([]bool, len(training))
		errs := make([]error, len(training))
		sem := make(chan struct{}, maxAsked)
		var wg sync.WaitGroup
		for i, s := range training {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				alive[i], errs[i] = v.checkMiner(ctx, t, s)
			}()
		}
		wg.Wait()
		for i, s := range training {
			if errs[i] != nil {
				return time.Time{}, errs[i]
			}
			if s.Failure == "" {
				waiting++
			}
			if alive[i] {
				live++
			}
		}
		if live == 0 && uploaded == 0 {
			n, err := v.reoffer(ctx, t, subs)
			if err != nil {
				return time.Time{}, err
			}
			waiting += n
			if waiting == 0 && t.TerminationAt.Sub(now) >= v.cfg.ReofferMin && !t.Routed() {
				// Nobody to give it to now; miners may come. Look again.
				return now.Add(min(time.Minute, v.cfg.ReofferMin/2)), nil
			}
		}
		if waiting > 0 {
			return *t.TerminationAt, nil
		}
		if uploaded > 0 {
			v.event(ctx, t.ID, crucible.EventLog, "", "every miner has uploaded or failed; evaluating before the deadline", nil)
		} else {
			v.event(ctx, t.ID, crucible.EventLog, "", "no miner trains the task any more and too little time is left to offer it again", nil)
		}
	}
	return now, v.move(ctx, t, crucible.StatusPreevaluation, nil)
}

// maxAsked is how many miners one step asks how they do at the same time.
const maxAsked = 16

// Why a miner's part in a task ended early, as its submission's failure.
const (
	failLost   = "the miner lost the job: it no longer knows the task (it restarted without its state, or was replaced)"
	failMiner  = "the miner reported that the job failed: "
	failNoTime = "no result uploaded before the deadline"
)

// checkMiner asks a training miner how it does (recording progress for
// customers) and says whether it still counts as training. A miner that
// reports a failure or no longer knows the task has its submission failed
// with what it said; one that cannot be reached counts as training until
// it has been unreachable for MinerUnreachable.
func (v *Validator) checkMiner(ctx context.Context, t *crucible.Task, s *crucible.Submission) (bool, error) {
	key := t.ID + "/" + s.Hotkey
	st, err := v.pollProgress(ctx, t, s)
	now := v.Now()
	v.progressMu.Lock()
	if err == nil || crucible.ErrorCode(err) == crucible.ENOTFOUND {
		delete(v.unreachable, key)
	} else if _, ok := v.unreachable[key]; !ok {
		v.unreachable[key] = unreachableSince{at: now, why: unreachable(err)}
	}
	gone := v.unreachable[key]
	v.progressMu.Unlock()
	switch {
	case crucible.ErrorCode(err) == crucible.ENOTFOUND:
		return false, v.failSubmission(ctx, t, s, failLost)
	case err != nil:
		if now.Sub(gone.at) >= v.cfg.MinerUnreachable {
			return false, nil
		}
		return true, nil
	case st.State == api.JobFailed:
		return false, v.failSubmission(ctx, t, s, failMiner+minerText(st.Message))
	}
	return true, nil
}

// unreachableSince records when a training miner stopped answering, and
// how.
type unreachableSince struct {
	at  time.Time
	why string
}

// failSubmission ends a miner's part in a task with a reason (unless it
// uploaded meanwhile).
func (v *Validator) failSubmission(ctx context.Context, t *crucible.Task, s *crucible.Submission, why string) error {
	fresh, err := v.Store.FindSubmission(ctx, s.TaskID, s.Hotkey)
	if err != nil {
		return err
	}
	if fresh.UploadedAt != nil || fresh.Failure != "" {
		*s = *fresh
		return nil
	}
	fresh.Failure = why
	if err := v.Store.UpdateSubmission(ctx, fresh); err != nil {
		return err
	}
	*s = *fresh
	v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, why, nil)
	return nil
}

// lastSeen says what the validator last knew of a miner that uploaded
// nothing, for its failure: unreachable since when and how, or its last
// report.
func (v *Validator) lastSeen(taskID, hotkey string) string {
	key := taskID + "/" + hotkey
	v.progressMu.Lock()
	defer v.progressMu.Unlock()
	if u, ok := v.unreachable[key]; ok {
		return fmt.Sprintf(" (the miner has been unreachable since %s: %s)", u.at.UTC().Format("15:04:05 UTC"), u.why)
	}
	if st, ok := v.progress[key]; ok {
		return fmt.Sprintf(" (its last report: %s, step %d, %.0f%% done: %s)", st.State, st.Step, 100*st.Progress, minerText(st.Message))
	}
	return ""
}

// pollProgress asks a training miner how it is doing and records what is
// new as a progress event (step, fraction of the budget, training loss), so
// customers can follow the run, and returns the miner's answer (checkMiner
// judges it).
func (v *Validator) pollProgress(ctx context.Context, t *crucible.Task, s *crucible.Submission) (api.MinerTaskStatus, error) {
	n, err := v.Store.FindNode(ctx, s.Hotkey)
	if err != nil {
		return api.MinerTaskStatus{}, crucible.Wrap(err, crucible.EINTERNAL, "miner %s is not in the metagraph", s.Hotkey)
	}
	cctx, cancel := context.WithTimeout(ctx, v.cfg.OfferTimeout)
	defer cancel()
	st, err := v.Miners(n).TaskStatus(cctx, t.ID)
	if err != nil {
		return st, err
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
		return st, nil
	}
	data := map[string]any{"state": st.State, "step": st.Step, "progress": st.Progress}
	msg := fmt.Sprintf("%s: %s", st.State, minerText(st.Message))
	if st.TrainLoss != nil {
		data["train_loss"] = *st.TrainLoss
		msg = fmt.Sprintf("%s: step %d, %.0f%%, train loss %.4f", st.State, st.Step, 100*st.Progress, *st.TrainLoss)
	}
	if st.TrainReward != nil {
		data["train_reward"] = *st.TrainReward
		msg = fmt.Sprintf("%s: step %d, %.0f%%, reward %.4f", st.State, st.Step, 100*st.Progress, *st.TrainReward)
	}
	v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, msg, data)
	return st, nil
}

// maxMinerText bounds what a miner's message may add to a failure reason.
const maxMinerText = 2000

// minerText makes a miner's message fit to record and show: valid UTF-8,
// lines joined with " | ", no control characters, at most maxMinerText
// bytes (the end kept: a trainer's last lines say why it stopped).
func minerText(s string) string {
	s = strings.ToValidUTF8(s, "?")
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	s = strings.Join(lines, " | ")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxMinerText {
		cut := len(s) - maxMinerText
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = "…" + s[cut:]
	}
	return s
}
