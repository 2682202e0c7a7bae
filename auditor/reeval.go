package auditor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
)

// reevaluate re-runs the evaluation of a sample of submissions with the
// evaluator kind each task was logged with, and compares each loss with
// the logged one. For crucible's engine: bit for bit when the validator's
// numerics class (logged with the task) is the auditor's or unknown, within
// the evaluator's NumericsBound otherwise. For the PyTorch evaluator:
// within crucible.TorchTolerance.
func (a *Auditor) reevaluate(ctx context.Context, tasks []resultlog.TaskResult, r *Report, flag func(int64, string, string, ...any)) error {
	if a.eval == nil || a.models == nil || a.cfg.Sample <= 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "crucible-audit-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, pick := range sample(tasks, a.cfg.Sample, a.cfg.Seed) {
		t, m := tasks[pick[0]], tasks[pick[0]].Miners[pick[1]]
		base, err := a.models.ResolveModel(ctx, t.Model)
		if err != nil {
			return fmt.Errorf("task %s: base model: %w", t.TaskID, err)
		}
		testPath := filepath.Join(dir, t.TaskID+"-test.jsonl")
		sum, err := a.fetch(ctx, t.TestData, testPath)
		if err != nil {
			return fmt.Errorf("task %s: %w", t.TaskID, err)
		}
		if sum != t.TestSHA256 {
			flag(0, t.TaskID, "the published test split does not match the logged hash")
			continue
		}
		tarPath := filepath.Join(dir, t.TaskID+"-"+m.Hotkey+".tar")
		sum, err = a.fetch(ctx, m.ResultKey, tarPath)
		if err != nil {
			return fmt.Errorf("task %s, %s: %w", t.TaskID, m.Hotkey, err)
		}
		if sum != m.SHA256 {
			flag(0, t.TaskID, "%s's published result does not match the logged hash", m.Hotkey)
			continue
		}
		modelDir := filepath.Join(dir, t.TaskID+"-"+m.Hotkey)
		if err := extract(tarPath, modelDir); err != nil {
			flag(0, t.TaskID, "%s's published result cannot be unpacked: %v", m.Hotkey, err)
			continue
		}
		kind := crucible.EvaluatorEngine
		if t.Evaluator != nil && t.Evaluator.Kind != "" {
			kind = t.Evaluator.Kind
		}
		req := EvalRequest{TaskType: t.TaskType, BaseDir: base, ModelDir: modelDir, TestPath: testPath, Mapping: t.Mapping, Evaluator: kind}
		logged, what := 0.0, "loss"
		if m.Reward != nil {
			// A grpo task: the reward score, sampled with the task's seed.
			req.Rewards, req.Seed = t.Rewards, crucible.EvalSeed(t.TaskID)
			logged, what = m.Reward.Score, "reward"
		} else {
			logged = *m.Loss
		}
		got, failure, err := a.eval.Evaluate(ctx, req)
		if err != nil {
			return fmt.Errorf("re-evaluate task %s, %s: %w", t.TaskID, m.Hotkey, err)
		}
		same := got == logged
		if m.Reward == nil {
			same = crucible.SameLoss(kind, logged, got)
		}
		re := Reevaluation{TaskID: t.TaskID, Hotkey: m.Hotkey, Logged: logged, Recomputed: got, Evaluator: kind, Match: failure == "" && same}
		if n, ok := a.eval.(NumericsReporter); ok && kind == crucible.EvaluatorEngine && t.Numerics != "" && t.Numerics != n.Numerics() && failure == "" {
			// Another machine class: the float32 kernels round differently.
			re.Numerics, re.Bound = t.Numerics, n.NumericsBound()
			switch {
			case m.Reward != nil:
				re.Match, re.Skipped = true, fmt.Sprintf("a sampled reward is reproducible only on the validator's numerics (%s; this auditor: %s)", t.Numerics, n.Numerics())
			default:
				re.Match = math.Abs(got-logged) <= re.Bound*math.Abs(logged)
			}
		}
		r.Reevaluated = append(r.Reevaluated, re)
		switch {
		case failure != "":
			flag(0, t.TaskID, "%s's result fails evaluation (%s) but was logged with %s %g", m.Hotkey, failure, what, logged)
		case !re.Match && re.Numerics != "":
			flag(0, t.TaskID, "%s's %s was logged as %.17g (numerics %s) but evaluates to %.17g, more than the %g relative bound between numerics classes", m.Hotkey, what, logged, re.Numerics, got, re.Bound)
		case !re.Match && kind == crucible.EvaluatorTorch && m.Reward == nil:
			flag(0, t.TaskID, "%s's loss was logged as %.17g by the torch evaluator but evaluates to %.17g, beyond the relative tolerance %g",
				m.Hotkey, logged, got, crucible.TorchTolerance)
		case !re.Match:
			flag(0, t.TaskID, "%s's %s was logged as %.17g but evaluates to %.17g", m.Hotkey, what, logged, got)
		}
	}
	return nil
}

// fetch downloads an artifact to path and returns its hex SHA-256.
func (a *Auditor) fetch(ctx context.Context, key, path string) (string, error) {
	rc, err := a.src.Artifact(ctx, key)
	if crucible.ErrorCode(err) == crucible.EUNAUTHORIZED {
		return "", crucible.Wrap(err, crucible.EUNAUTHORIZED, "fetch %s", key).
			WithHint("the validator serves the artifacts of finished tasks only with an API key: pass --api-key (any account's), or audit with --sample 0")
	}
	if err != nil {
		return "", err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("fetch %s: %w", key, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func extract(tarPath, dir string) error {
	f, err := os.Open(tarPath)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_, err = api.ExtractTar(f, dir, api.ExtractLimits{})
	return err
}
