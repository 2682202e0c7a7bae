package localnet_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/auditornode"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/trainers/torch/torchtest"
)

// TestTorchOnTheNetwork runs a network where one miner trains with PyTorch
// (--strategy torch, on the CPU) beside a miner on crucible's engine, and
// the validator evaluates with PyTorch (--evaluator torch): both
// submissions are scored on the same hidden split, the results log names
// the evaluator, and an auditor re-runs a sample with the same kind and
// finds it within the tolerance.
func TestTorchOnTheNetwork(t *testing.T) {
	rt := torchtest.Runtime(t)
	net := startNet(t, []string{"lora-fast", "torch"}, func(c *validatornode.Config) {
		c.Evaluator, c.Python, c.TorchDevice = crucible.EvaluatorTorch, rt.Python, "cpu"
		c.TestCap = 40
		c.PublicDownloads = true // the auditor below fetches the artifacts without a key
	}, func(c *minernode.Config) {
		c.Python = rt.Python
		c.TorchArgs = []string{"--threads", "1"}
	})
	ctx := context.Background()
	task := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: facts(t, 200), HoursToComplete: 40.0 / 3600, IsOrganic: true}
	if err := net.Validator.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	var log strings.Builder
	done, err := net.Follow(wctx, task.ID, func(e *crucible.TaskEvent) { log.WriteString(e.Message + "\n") })
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if done.Status != crucible.StatusSuccess {
		t.Fatalf("task ended %s: %s\n%s", done.Status, done.Failure, log.String())
	}
	subs, err := net.Validator.Store().FindSubmissions(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 {
		t.Fatalf("%d submissions", len(subs))
	}
	for _, s := range subs {
		if s.Failure != "" || s.TestLoss == nil || s.QualityScore == nil {
			t.Errorf("%s (%s): failure %q, loss %v", net.Names[s.Hotkey], s.Hotkey, s.Failure, s.TestLoss)
			continue
		}
		t.Logf("%s: test loss %.4f, score %g", net.Names[s.Hotkey], *s.TestLoss, *s.QualityScore)
	}
	if !strings.Contains(log.String(), "torch evaluator: crucible_torch") {
		t.Errorf("the events do not name the evaluator:\n%s", log.String())
	}

	// The results log says the torch evaluator computed the losses ...
	entries, err := net.Validator.Store().FindResults(ctx, 0, 0)
	if err != nil || len(entries) == 0 {
		t.Fatalf("results log: %d entries, %v", len(entries), err)
	}
	var tr resultlog.TaskResult
	if err := json.Unmarshal(entries[0].Payload, &tr); err != nil || tr.Evaluator == nil || tr.Evaluator.Kind != crucible.EvaluatorTorch {
		t.Fatalf("task result %+v (%v)", tr.Evaluator, err)
	}
	// ... and an auditor re-runs one with the same kind, within tolerance.
	a, err := auditor.New(auditor.Config{ValidatorHotkey: net.Validator.Key().Address(), Sample: 1, Seed: 3}, auditor.Deps{
		Source: &auditor.HTTPSource{Base: net.Validator.URL()}, Models: node.NewModels(net.Validator.Config().Assets),
		Eval: &auditornode.Evaluators{Python: rt.Python, Dir: t.TempDir(), Device: "cpu"}, Verify: sign.VerifySignature})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Reevaluated) != 1 || r.Reevaluated[0].Evaluator != crucible.EvaluatorTorch || !r.Reevaluated[0].Match {
		t.Errorf("audit: %+v, discrepancies %+v", r.Reevaluated, r.Discrepancies)
	}
}
