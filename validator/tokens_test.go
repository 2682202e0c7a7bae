package validator_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/validator"
)

// tokensPreparer is linesPreparer that also writes the splits' token files
// (stand-ins: what matters here is where they go).
type tokensPreparer struct{ linesPreparer }

func (p tokensPreparer) Prepare(ctx context.Context, t *crucible.Task, dir string, hp *crucible.Honeypot) (*validator.Prepared, error) {
	out, err := p.linesPreparer.Prepare(ctx, t, dir, hp)
	if err != nil {
		return nil, err
	}
	out.TrainTokensPath, out.TestTokensPath = filepath.Join(dir, "train.tok"), filepath.Join(dir, "test.tok")
	os.WriteFile(out.TrainTokensPath, []byte("train tokens"), 0o644)
	os.WriteFile(out.TestTokensPath, []byte("test tokens"), 0o644)
	return out, nil
}

// kindEvaluator is lossEvaluator that checks the test split's token file
// and says which evaluator it is.
type kindEvaluator struct {
	lossEvaluator
	t    *testing.T
	kind string
}

func (e *kindEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	b, err := os.ReadFile(req.TestTokensPath)
	if err != nil || string(b) != "test tokens" {
		e.t.Errorf("evaluator got test tokens %q (%v)", b, err)
	}
	r, err := e.lossEvaluator.Evaluate(ctx, req)
	if r != nil {
		r.Evaluator = crucible.EvaluatorInfo{Kind: e.kind, Version: "crucible_torch 1, torch 2.5.1, cpu, compact"}
	}
	return r, err
}

// The splits' token files travel with the task: miners get the train
// split's in CRUCIBLE_TOKENS, the evaluator reads the test split's, the
// evaluator's identity is recorded with the base's loss and in the results
// log; the test split's token file is never served to miners.
func TestTokenFilesAndEvaluatorIdentity(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.deps.Preparer = tokensPreparer{linesPreparer{rows: 40}}
	ev := &kindEvaluator{t: t, kind: crucible.EvaluatorTorch}
	n.deps.Evaluator = ev
	n.restart()
	n.addMiner("5Tok", `test "$(cat "$CRUCIBLE_TOKENS")" = "train tokens"
`+trainer("0.7"))
	task := n.run(n.submit("facts.jsonl", 0.01).ID)
	if task.Status != crucible.StatusSuccess || task.Winner != "5Tok" {
		t.Fatalf("status %s winner %q: %s (%+v)", task.Status, task.Winner, task.Failure, n.subs(task.ID)["5Tok"])
	}
	ctx := context.Background()
	rec, err := n.store.FindEvaluation(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Evaluator == nil || rec.Evaluator.Kind != crucible.EvaluatorTorch || !strings.Contains(rec.Evaluator.Version, "torch 2.5.1") ||
		!strings.HasSuffix(rec.TrainTokens, "/train.tokens.safetensors") || !strings.HasSuffix(rec.TestTokens, "/test.tokens.safetensors") {
		t.Errorf("evaluation record %+v (evaluator %+v)", rec, rec.Evaluator)
	}
	entries, _ := n.store.FindResults(ctx, 0, 0)
	var tr resultlog.TaskResult
	if len(entries) == 0 || json.Unmarshal(entries[0].Payload, &tr) != nil || tr.Evaluator == nil || tr.Evaluator.Kind != crucible.EvaluatorTorch {
		t.Errorf("results log does not name the evaluator: %+v", tr)
	}

	// Attack: a correctly signed link to the test split's token file (or
	// the test split) is refused; the train split's is served.
	links := linkSigner(t)
	for key, forbidden := range map[string]bool{rec.TestTokens: true, task.TestData: true, rec.TrainTokens: false} {
		u, _ := url.Parse(links.URLUntil(n.cfg.PublicURL+"/v1/blobs/", key, time.Now().Add(time.Hour)))
		rc, err := n.v.OpenLink(ctx, key, u.Query())
		if forbidden && crucible.ErrorCode(err) != crucible.EFORBIDDEN {
			t.Errorf("%s served: %v", key, err)
		}
		if !forbidden {
			if err != nil {
				t.Errorf("%s refused: %v", key, err)
			} else {
				rc.Close()
			}
		}
	}
}

// Every loss of a task comes from one kind of evaluator: a validator
// restarted with another kind stops evaluating the task (and says how to
// finish it) instead of ranking losses of two engines.
func TestEvaluatorKindIsFixedPerTask(t *testing.T) {
	n := newNetwork(t, "", func(c *validator.Config) { c.MaxEvalTries = 1 })
	n.deps.Preparer = tokensPreparer{linesPreparer{rows: 40}}
	ev := &kindEvaluator{t: t, kind: crucible.EvaluatorTorch}
	n.deps.Evaluator = ev
	n.restart()
	n.addMiner("5A", trainer("0.7"))
	task := n.toTraining(n.submit("facts.jsonl", 0.01).ID)
	n.waitUploads(task.ID)
	ctx := context.Background()
	// The base is evaluated by the torch evaluator...
	rec, _ := n.store.FindEvaluation(ctx, task.ID)
	loss := 2.5
	rec.BaseLoss, rec.Evaluator = &loss, &crucible.EvaluatorInfo{Kind: crucible.EvaluatorTorch}
	if err := n.store.SaveEvaluation(ctx, rec); err != nil {
		t.Fatal(err)
	}
	// ... then the validator comes back with the engine.
	ev.kind = crucible.EvaluatorEngine
	task = n.run(task.ID)
	if task.Status != crucible.StatusFailure || !strings.Contains(task.Failure, "evaluated with the torch evaluator") {
		t.Errorf("status %s: %s", task.Status, task.Failure)
	}
}
