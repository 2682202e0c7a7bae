package validator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// logTask appends a task's results to the public results log (once: a
// re-run after a crash finds the entry already there).
func (v *Validator) logTask(ctx context.Context, t *crucible.Task, subs []*crucible.Submission, ranked []scoring.Ranked, work float64, at time.Time) error {
	if v.Signer == nil {
		return nil
	}
	sum, err := v.blobSHA256(ctx, t.TestData)
	if err != nil {
		return err
	}
	byHotkey := map[string]*crucible.Submission{}
	for _, s := range subs {
		byHotkey[s.Hotkey] = s
	}
	e, err := v.evaluation(ctx, t)
	if err != nil {
		return err
	}
	p := resultlog.TaskResult{
		TaskID: t.ID, TaskType: t.Type, IsOrganic: t.IsOrganic, Model: t.Model, ModelParams: t.ModelParamsCount,
		Hours: t.HoursToComplete, Work: work, SpecVersion: v.spec.Version, TestData: publicKey(t, t.TestData), TestSHA256: sum,
		FinishedAt: at, BaseLoss: e.BaseLoss, BaseReward: e.BaseReward, Evaluator: e.Evaluator,
		Competition: t.Competition, Tournament: t.Tournament,
	}
	if t.Type == crucible.TaskGRPO {
		p.Rewards = t.Rewards
	}
	if n, ok := v.Evaluator.(NumericsReporter); ok && (e.Evaluator == nil || e.Evaluator.Kind == crucible.EvaluatorEngine) {
		// The engine's arithmetic class; the torch evaluator's losses are
		// compared within crucible.TorchTolerance instead.
		p.Numerics = n.Numerics()
	}
	if e.SplitMapping != nil {
		p.Mapping = *e.SplitMapping
	}
	for _, r := range ranked {
		s := byHotkey[r.Hotkey]
		m := resultlog.MinerResult{Hotkey: r.Hotkey, Loss: s.TestLoss, Reward: s.Reward, Failure: s.Failure, SHA256: s.ResultSHA256,
			ResultKey: publicKey(t, s.ResultKey), Rank: r.Rank, Score: r.Score, Reason: r.Reason}
		if !t.Private {
			// How each miner trained is published with the results, so
			// that miners learn from each other (a private task's stays
			// with its customer).
			if m.Training, err = v.trainingOf(ctx, t.ID, r.Hotkey); err != nil {
				return err
			}
		}
		if r.Rank == 1 {
			p.Winner = r.Hotkey
		}
		p.Miners = append(p.Miners, m)
	}
	return v.appendLog(ctx, resultlog.KindTaskResult, p, t.ID)
}

// appendLog appends an entry, retrying when another writer appended first.
// With taskID set, it does nothing when the task is already in the log.
func (v *Validator) appendLog(ctx context.Context, kind string, payload any, taskID string) error {
	for attempt := 0; ; attempt++ {
		last, err := v.Store.LastResult(ctx)
		if crucible.ErrorCode(err) == crucible.ENOTFOUND {
			last, err = nil, nil
		}
		if err != nil {
			return err
		}
		if taskID != "" && last != nil {
			recent, err := v.Store.FindResults(ctx, max(0, last.Seq-200), 0)
			if err != nil {
				return err
			}
			for _, e := range recent {
				var r struct {
					TaskID string `json:"task_id"`
				}
				if e.Kind == resultlog.KindTaskResult && json.Unmarshal(e.Payload, &r) == nil && r.TaskID == taskID {
					return nil
				}
			}
		}
		e, err := resultlog.Next(last, kind, payload, v.Signer)
		if err != nil {
			return err
		}
		err = v.Store.AppendResult(ctx, e)
		if crucible.ErrorCode(err) == crucible.ECONFLICT && attempt < 10 {
			continue
		}
		return err
	}
}

func (v *Validator) blobSHA256(ctx context.Context, key string) (string, error) {
	rc, err := v.Blobs.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// publicKey is a blob key as the log names it: a private task's artifacts
// are never published, so the log does not point at them (auditors then
// re-check its ranking and weights, not its losses).
func publicKey(t *crucible.Task, key string) string {
	if t.Private {
		return ""
	}
	return key
}

// ResultsHandler serves the public results log and, once a task is over, the
// artifacts auditors need to re-run its evaluation (the test split and the
// submitted results of tasks that are not private):
//
//	GET /v1/results?after=SEQ&limit=N      → []crucible.ResultEntry, oldest first
//	GET /v1/results/artifacts/{key...}     → the blob
func (v *Validator) ResultsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+api.PathResults, protocol.ResultsHandler(v))
	mux.HandleFunc("GET /v1/results/artifacts/{key...}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if err := v.artifactPublic(r.Context(), key); err != nil {
			api.WriteError(w, err)
			return
		}
		v.copyBlob(w, r, key)
	})
	return mux
}

// Results returns up to limit entries of the public results log after
// sequence number after (protocol.ValidatorServer).
func (v *Validator) Results(ctx context.Context, _ string, after int64, limit int) ([]*crucible.ResultEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	return v.Store.FindResults(ctx, max(after, 0), limit)
}

// artifactPublic allows the test split and results of finished tasks that
// are not private.
func (v *Validator) artifactPublic(ctx context.Context, key string) error {
	parts := strings.Split(key, "/")
	if len(parts) < 3 || parts[0] != "tasks" || !crucible.ValidID(parts[1]) {
		return crucible.Errorf(crucible.ENOTFOUND, "no artifact %q", key)
	}
	t, err := v.Store.FindTask(ctx, parts[1])
	if err != nil {
		return err
	}
	if !t.Status.Terminal() {
		return crucible.Errorf(crucible.EFORBIDDEN, "task %s is still running; its artifacts are published when it ends", t.ID)
	}
	if t.Private {
		return crucible.Errorf(crucible.EFORBIDDEN, "task %s is private", t.ID)
	}
	return nil
}
