package minernode_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/adaptive"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

// The adaptive strategy trains a real (tiny) run with the recipe it chose,
// records the trial with its validation estimate, and a restarted miner
// finds it and proposes from it.
func TestAdaptiveTrainsAndRemembers(t *testing.T) {
	dir := t.TempDir()
	modelDir, err := localnet.TinyModel(dir, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	data, err := localnet.SampleDataset(dir, assets.Facts, 120)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "home", "adaptive-history.json")
	a, err := minernode.NewAdaptive(path, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.SetHotkey("miner-hotkey")
	if got := a.Method(); got.Strategy != "adaptive" || got.Version != minernode.AdaptiveVersion {
		t.Errorf("method %+v", got)
	}
	job := &miner.Job{TaskID: "task-1", TaskType: crucible.TaskInstruct, Model: "tiny", ModelDir: modelDir, DataPath: data,
		HoursToComplete: 0.01, Deadline: time.Now().Add(2 * time.Minute), OutDir: filepath.Join(dir, "out"), Validator: "v"}
	var msgs []string
	if err := a.Train(context.Background(), job, func(p miner.Progress) { msgs = append(msgs, p.Message) }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "adaptive: full lr") {
		t.Errorf("progress did not name the recipe: %q", msgs)
	}
	var rec struct {
		Recipe struct {
			Name string `json:"name"`
		} `json:"recipe"`
		Settings struct {
			Mode string  `json:"mode"`
			LR   float64 `json:"lr"`
		} `json:"settings"`
	}
	if b, err := readFile(filepath.Join(job.OutDir, "training.json")); err != nil || json.Unmarshal(b, &rec) != nil {
		t.Fatalf("training.json: %v", err)
	}
	h, err := adaptive.OpenHistory(path) // a restarted miner
	if err != nil {
		t.Fatal(err)
	}
	trials := h.Trials()
	if len(trials) != 1 {
		t.Fatalf("%d trials after one task", len(trials))
	}
	tr := trials[0]
	if tr.ID != "task-1" || !tr.Own || tr.Features.Rows != 120 || tr.Features.Params == 0 || tr.Outcome == nil || !tr.Outcome.Proxy {
		t.Fatalf("trial %+v", tr)
	}
	if rec.Recipe.Name != "adaptive" || rec.Settings.Mode != "full" || rec.Settings.LR != tr.Params.LR {
		t.Errorf("training.json %+v does not record the chosen %v", rec, tr.Params)
	}
	if _, ok, _ := tr.Outcome.Objective(); !ok {
		t.Errorf("the trial's outcome %+v gives no objective", tr.Outcome)
	}
	// The next task on the same data is proposed from this trial.
	var s adaptive.Space
	if p := s.Propose(tr.Features, trials, 2); p.Observations != 1 || p.SameTask != 1 {
		t.Errorf("next proposal %+v", p)
	}
}

// Learn replaces a trial's estimate with the validator's published
// evaluation, and refuses a log that is not the validator's, or that does
// not continue what it read before.
func TestAdaptiveLearnsFromTheResultsLog(t *testing.T) {
	dir := t.TempDir()
	val, err := sign.FromURI("//learn//validator")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := sign.FromURI("//learn//impostor")
	path := filepath.Join(dir, "h.json")
	a, err := minernode.NewAdaptive(path, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.SetHotkey("me")
	var s adaptive.Space
	f := adaptive.Features{Model: "tiny", Params: 100000, Type: crucible.TaskInstruct, Rows: 100, Budget: 60}
	pending := adaptive.Trial{ID: "task-1", TaskID: "task-1", Own: true, Features: f, Params: s.Prior(f)}
	if err := a.History().Put(pending); err != nil {
		t.Fatal(err)
	}
	loss, winner, base := 2.5, 2.0, 5.0
	entry := func(prev *crucible.ResultEntry, signer resultlog.Signer, task string) *crucible.ResultEntry {
		e, err := resultlog.Next(prev, resultlog.KindTaskResult, resultlog.TaskResult{TaskID: task, TaskType: crucible.TaskInstruct,
			BaseLoss: &base, Winner: "them", Miners: []resultlog.MinerResult{
				{Hotkey: "them", Loss: &winner, Rank: 1, Score: 3, Training: &crucible.TrainingSummary{Strategy: "auto", Mode: "full",
					LR: 0.0005, Epochs: 3, BatchSize: 16, Schedule: "cosine", MinLRRatio: 0.1, WarmupRatio: 0.05, Examples: 100, DataSHA256: "d"}},
				{Hotkey: "me", Loss: &loss, Rank: 2},
			}}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1 := entry(nil, val, "task-1")
	e2 := entry(e1, val, "task-2")
	log := []*crucible.ResultEntry{e1, e2}
	serve := func(entries []*crucible.ResultEntry) func(context.Context, int64) ([]*crucible.ResultEntry, error) {
		return func(_ context.Context, after int64) ([]*crucible.ResultEntry, error) {
			var out []*crucible.ResultEntry
			for _, e := range entries {
				if e.Seq > after {
					out = append(out, e)
				}
			}
			return out, nil
		}
	}
	ctx := context.Background()

	// Signed by someone else: refused, nothing learned.
	forged := entry(nil, other, "task-1")
	if err := a.Learn(ctx, val.Address(), serve([]*crucible.ResultEntry{forged})); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Fatalf("a log signed by another key: %v", err)
	}
	// Altered after signing: refused.
	altered := *e1
	altered.Payload = []byte(strings.Replace(string(e1.Payload), `"loss":2.5`, `"loss":0.1`, 1))
	if err := a.Learn(ctx, val.Address(), serve([]*crucible.ResultEntry{&altered})); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Fatalf("an altered entry: %v", err)
	}
	if tr, _ := a.History().Trial("task-1"); tr.Outcome != nil || a.History().Cursor(val.Address()).Seq != 0 {
		t.Fatalf("a refused log changed the history: %+v", tr)
	}

	if err := a.Learn(ctx, val.Address(), serve(log)); err != nil {
		t.Fatal(err)
	}
	tr, _ := a.History().Trial("task-1")
	o := tr.Outcome
	if o == nil || o.Proxy || *o.Loss != loss || *o.BaseLoss != base || o.Rank != 2 || o.Miners != 2 || *o.WinnerLoss != winner {
		t.Fatalf("outcome %+v", o)
	}
	if c := a.History().Cursor(val.Address()); c.Seq != 2 || c.Hash != e2.Hash {
		t.Errorf("cursor %+v", c)
	}
	if _, ok := a.History().Trial("task-2"); ok {
		t.Error("a task this miner did not train became its trial")
	}
	// The winner's published recipe is a trial to learn from, with its
	// test loss.
	pub, ok := a.History().Trial("task-1/them")
	if !ok || pub.Own || !pub.Params.Full || pub.Params.LR != 0.0005 || pub.Params.Batch != 16 || pub.Features.Rows != 100 ||
		pub.Features.Dataset != "d" || pub.Outcome == nil || *pub.Outcome.Loss != winner || pub.Strategy != "auto" {
		t.Errorf("published trial %+v", pub)
	}
	if p := s.Propose(adaptive.Features{Model: "tiny", Params: 100000, Type: crucible.TaskInstruct, Rows: 100, Dataset: "d"}, a.History().Trials(), 1); p.Observations != 3 {
		t.Errorf("proposal from %d trials, want 3 (own, and the two published)", p.Observations)
	}
	// A log that does not continue the chain read before (rewritten
	// history) is refused.
	fork := entry(entry(nil, val, "task-1"), val, "task-x")
	fork.Seq = 3
	if err := a.Learn(ctx, val.Address(), serve([]*crucible.ResultEntry{fork})); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a forked log: %v", err)
	}
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
