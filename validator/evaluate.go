package validator

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// NearDuplicate is the cosine similarity of two submissions' weight-delta
// fingerprints above which the later one is a copy of the earlier one.
const NearDuplicate = 0.999

// evaluate scores every submission on the hidden test split, one at a time,
// saving each result as it comes so that a restart resumes where it stopped,
// then ranks them and records the winner.
func (v *Validator) evaluate(ctx context.Context, t *crucible.Task) (time.Time, error) {
	err := v.evaluateAll(ctx, t)
	if err == nil {
		return v.Now(), v.rank(ctx, t)
	}
	if ctx.Err() != nil {
		return time.Time{}, ctx.Err()
	}
	v.Log.Warn("evaluation failed", "task", t.ID, "attempt", t.EvalAttempts, "err", err)
	v.event(ctx, t.ID, crucible.EventLog, "", "evaluation attempt failed: "+errText(err), nil)
	if t.EvalAttempts < v.cfg.MaxEvalTries {
		return v.Now(), v.move(ctx, t, crucible.StatusPreevaluation, nil)
	}
	return v.Now(), v.fail(ctx, t, crucible.StatusFailure, "evaluation failed %d times: %s", t.EvalAttempts, errText(err))
}

func (v *Validator) evaluateAll(ctx context.Context, t *crucible.Task) error {
	base, err := v.Models.ResolveModel(ctx, t.Model)
	if err != nil {
		return err
	}
	dir, err := tempDir("crucible-eval-")
	if err != nil {
		return err
	}
	defer removeAll(dir)
	testPath := filepath.Join(dir, "test.jsonl")
	if err := v.getFile(ctx, t.TestData, testPath); err != nil {
		return fmt.Errorf("hidden test split: %w", err)
	}
	rec, err := v.evaluation(ctx, t)
	if err != nil {
		return err
	}
	if rec.SplitMapping == nil {
		return crucible.Errorf(crucible.EINTERNAL, "task %s has no prepared splits' mapping", t.ID)
	}
	grpo := t.Type == crucible.TaskGRPO
	in := evalInput{base: base, test: testPath, mapping: *rec.SplitMapping, dir: dir}
	if rec.TestTokens != "" && !grpo {
		in.tokens = filepath.Join(dir, testTokensName)
		if err := v.getFile(ctx, rec.TestTokens, in.tokens); err != nil {
			return fmt.Errorf("hidden test split's token file: %w", err)
		}
	}
	if (!grpo && rec.BaseLoss == nil) || (grpo && rec.BaseReward == nil) {
		res, err := v.Evaluator.Evaluate(ctx, evalRequest(t, base, "", in))
		if err != nil {
			return fmt.Errorf("base model: %w", err)
		}
		if res.Evaluator.Kind != "" {
			id := res.Evaluator
			rec.Evaluator = &id
		}
		if grpo {
			if res.Reward == nil {
				return crucible.Errorf(crucible.EINTERNAL, "the evaluator gave no reward for the base of grpo task %s", t.ID)
			}
			rec.BaseReward = res.Reward
		} else {
			loss := res.Loss
			rec.BaseLoss = &loss
		}
		if err := v.Store.SaveEvaluation(ctx, rec); err != nil {
			return err
		}
		if grpo {
			v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("base model reward %.4f (%s)", res.Reward.Score, evaluatorText(rec.Evaluator)), rewardData(res.Reward))
		} else {
			v.event(ctx, t.ID, crucible.EventLog, "", fmt.Sprintf("base model test loss %.4f (%s)", res.Loss, evaluatorText(rec.Evaluator)), map[string]any{"base_loss": res.Loss})
		}
	}
	if rec.Evaluator != nil {
		in.kind = rec.Evaluator.Kind
	}
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if s.Settled() {
			continue
		}
		if err := v.evaluateOne(ctx, t, s, in); err != nil {
			return err
		}
		if err := v.Store.UpdateSubmission(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// evalInput is what every evaluation of a task shares.
type evalInput struct {
	base, test, tokens, dir string
	mapping                 crucible.ColumnMapping
	kind                    string // the evaluator kind of the base's loss; "" when not recorded
}

// evaluatorText names an evaluator for events.
func evaluatorText(e *crucible.EvaluatorInfo) string {
	switch {
	case e == nil || e.Kind == "":
		return "evaluator not recorded"
	case e.Version == "":
		return e.Kind + " evaluator"
	}
	return e.Kind + " evaluator: " + e.Version
}

// evaluateOne evaluates one submission. A problem with the submission itself
// (missing, corrupt, not a fine-tune) becomes its Failure; only problems of
// the validator's own are returned as errors.
func (v *Validator) evaluateOne(ctx context.Context, t *crucible.Task, s *crucible.Submission, in evalInput) error {
	if s.UploadedAt == nil || s.ResultKey == "" {
		s.Failure = failNoTime + v.lastSeen(t.ID, s.Hotkey)
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		return nil
	}
	modelDir := filepath.Join(in.dir, "sub-"+s.ExpectedName)
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		return err
	}
	defer removeAll(modelDir)
	rc, err := v.Blobs.Get(ctx, s.ResultKey)
	if err != nil {
		return fmt.Errorf("read upload of %s: %w", s.Hotkey, err)
	}
	_, err = api.ExtractTar(rc, modelDir, api.ExtractLimits{MaxBytes: v.cfg.MaxUpload})
	rc.Close()
	if err != nil {
		s.Failure = "corrupt upload: " + err.Error()
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		return nil
	}
	if err := v.keepTraining(ctx, t, s, modelDir); err != nil {
		return err
	}
	v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, "evaluating on the hidden test split", nil)
	res, err := v.Evaluator.Evaluate(ctx, evalRequest(t, in.base, modelDir, in))
	if err == nil && in.kind != "" && res.Evaluator.Kind != "" && res.Evaluator.Kind != in.kind {
		// Every loss of a task comes from one kind of evaluator: the base's
		// loss is the yardstick, and auditors re-run that kind.
		return crucible.Errorf(crucible.EINTERNAL, "task %s's base was evaluated with the %s evaluator, this validator runs the %s one",
			t.ID, in.kind, res.Evaluator.Kind).WithHint("run the validator with --evaluator " + in.kind + " until the task is scored")
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The evaluator could not read the submission at all: that is the
		// submission's fault, not a reason to fail the task.
		s.Failure = "evaluation failed: " + errText(err)
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		return nil
	}
	s.IsAdapter = res.IsAdapter
	if res.Failure != "" {
		s.Failure = res.Failure
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, s.Failure, nil)
		return nil
	}
	if t.Type == crucible.TaskGRPO && res.Reward == nil {
		return crucible.Errorf(crucible.EINTERNAL, "the evaluator gave no reward for %s's submission to grpo task %s", s.Hotkey, t.ID)
	}
	if len(res.Fingerprint) > 0 {
		if err := v.Store.SaveFingerprint(ctx, t.ID, s.Hotkey, res.Fingerprint); err != nil {
			return err
		}
	}
	if t.Type == crucible.TaskGRPO {
		s.Reward = res.Reward
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, fmt.Sprintf("reward %.4f", res.Reward.Score), rewardData(res.Reward))
		return nil
	}
	loss := res.Loss
	s.TestLoss = &loss
	v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, fmt.Sprintf("test loss %.4f", loss), map[string]any{"test_loss": loss})
	return nil
}

// rank applies the scoring spec, stores the scores and finishes the task.
func (v *Validator) rank(ctx context.Context, t *crucible.Task) error {
	subs, err := v.Store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return err
	}
	fp, err := v.Store.FindFingerprints(ctx, t.ID)
	if err != nil {
		return err
	}
	markNearDuplicates(subs, fp)
	results := make([]scoring.Result, len(subs))
	byHotkey := map[string]*crucible.Submission{}
	for i, s := range subs {
		byHotkey[s.Hotkey] = s
		r := scoring.Result{Hotkey: s.Hotkey, Failure: s.Failure, SHA256: s.ResultSHA256, Loss: math.NaN()}
		if s.TestLoss != nil {
			r.Loss = *s.TestLoss
		}
		if t.Type == crucible.TaskGRPO {
			// Ranked by reward, highest first (scoring.Result.Reward).
			score := math.NaN()
			if s.Reward != nil {
				score = s.Reward.Score
			}
			r.Reward = &score
		}
		if s.UploadedAt != nil {
			r.SubmittedAt = *s.UploadedAt
		}
		results[i] = r
	}
	ranked := v.spec.Rank.RankTask(results)
	work := v.spec.Work(t.HoursToComplete, t.ModelParamsCount)
	// The scoring time is fixed once and saved, so that the scores and the
	// results log carry the same time even when this step is re-run.
	scoredAt, err := v.scoredAt(ctx, t)
	if err != nil {
		return err
	}
	var scores []*crucible.Score
	var winner *crucible.Submission
	for _, r := range ranked {
		s := byHotkey[r.Hotkey]
		score := r.Score
		s.QualityScore, s.Reason = &score, r.Reason
		if r.Failure != "" && s.Failure == "" {
			s.Failure = r.Failure // a duplicate found by ranking
		}
		if r.Rank == 1 {
			winner = s
		}
		if err := v.Store.UpdateSubmission(ctx, s); err != nil {
			return err
		}
		scores = append(scores, &crucible.Score{TaskID: t.ID, Hotkey: s.Hotkey, TaskType: t.Type, IsOrganic: t.IsOrganic,
			QualityScore: score, Work: work, TestLoss: s.TestLoss, SpecVersion: v.spec.Version, CreatedAt: scoredAt})
	}
	// A routed task (the champion's, a tournament match's) is not an open
	// competition: its results count through its tournament, not as
	// per-task scores. The scores and the log entry are written under
	// outcomeMu, so that a weights computation (SetWeights) never counts
	// scores whose task the log has only after the weights.
	v.outcomeMu.Lock()
	err = nil
	if !t.Routed() {
		if err = v.Store.AddScores(ctx, scores); crucible.ErrorCode(err) == crucible.ECONFLICT {
			err = nil
		}
	}
	if err == nil {
		err = v.logTask(ctx, t, subs, ranked, work, scoredAt)
	}
	v.outcomeMu.Unlock()
	if err != nil {
		return err
	}
	if winner == nil {
		return v.fail(ctx, t, crucible.StatusFailure, "no valid submission: %s", summarizeFailures(subs))
	}
	if winner.Reward != nil {
		v.event(ctx, t.ID, crucible.EventLog, winner.Hotkey, fmt.Sprintf("winner %s with reward %.4f", winner.Hotkey, winner.Reward.Score), nil)
	} else {
		v.event(ctx, t.ID, crucible.EventLog, winner.Hotkey, fmt.Sprintf("winner %s with test loss %.4f", winner.Hotkey, *winner.TestLoss), nil)
	}
	return v.move(ctx, t, crucible.StatusSuccess, func(t *crucible.Task) {
		t.Winner, t.ResultModel = winner.Hotkey, winner.ResultKey
	})
}

// markNearDuplicates fails a valid submission whose weight delta (its
// fingerprint, by hotkey in fp) points the same way as an earlier
// submission's: a copy with a little noise added.
func markNearDuplicates(subs []*crucible.Submission, fp map[string][]float32) {
	var valid []*crucible.Submission
	for _, s := range subs {
		if s.Failure == "" && s.Evaluated() && len(fp[s.Hotkey]) > 0 && s.UploadedAt != nil {
			valid = append(valid, s)
		}
	}
	for i, s := range valid {
		for _, earlier := range valid[:i] {
			a, b := earlier, s
			if b.UploadedAt.Before(*a.UploadedAt) {
				a, b = b, a
			}
			if b.Failure == "" && cosine(fp[a.Hotkey], fp[b.Hotkey]) >= NearDuplicate {
				b.Failure = fmt.Sprintf("near-duplicate of %s's earlier submission (weight-delta similarity ≥ %.3f)", a.Hotkey, NearDuplicate)
			}
		}
	}
}

func cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func summarizeFailures(subs []*crucible.Submission) string {
	if len(subs) == 0 {
		return "no submissions"
	}
	s := ""
	for i, sub := range subs {
		if i > 0 {
			s += "; "
		}
		s += sub.Hotkey + ": " + sub.Failure
	}
	return s
}

// putFile stores a local file as a blob.
func (v *Validator) putFile(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, _, err = v.Blobs.Put(ctx, key, f)
	return err
}

// getFile copies a blob to a local file.
func (v *Validator) getFile(ctx context.Context, key, path string) error {
	rc, err := v.Blobs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func tempDir(prefix string) (string, error) { return os.MkdirTemp("", prefix) }

func removeAll(dir string) { os.RemoveAll(dir) }

// scoredAt returns the task's scoring time, fixing it in the evaluation
// record on first use.
func (v *Validator) scoredAt(ctx context.Context, t *crucible.Task) (time.Time, error) {
	rec, err := v.evaluation(ctx, t)
	if err != nil {
		return time.Time{}, err
	}
	if rec.ScoredAt != nil {
		return *rec.ScoredAt, nil
	}
	at := v.Now().UTC().Truncate(time.Microsecond)
	rec.ScoredAt = &at
	if err := v.Store.SaveEvaluation(ctx, rec); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// evalRequest is the evaluation of one model (the base when modelDir is
// empty) for task t: a grpo task's rewards and seed ride along.
func evalRequest(t *crucible.Task, base, modelDir string, in evalInput) EvalRequest {
	req := EvalRequest{TaskType: t.Type, BaseDir: base, ModelDir: modelDir, TestPath: in.test, Mapping: in.mapping, TestTokensPath: in.tokens}
	if t.Type == crucible.TaskGRPO {
		req.Rewards, req.Seed = t.Rewards, crucible.EvalSeed(t.ID)
	}
	return req
}

// rewardData is a grpo evaluation as event data (the dashboard's reward
// breakdown).
func rewardData(r *crucible.RewardResult) map[string]any {
	d := map[string]any{"reward_score": r.Score, "reward": r.Reward, "reward_parts": r.Parts}
	if r.KL != nil {
		d["kl"] = *r.KL
	}
	return d
}
