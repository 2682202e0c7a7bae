package auditor_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
	"github.com/crucible-net/crucible/sign"
)

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// published is what a validator publishes: its log and the artifacts of
// finished tasks.
type published struct {
	entries   []*crucible.ResultEntry
	artifacts map[string][]byte
}

func (p *published) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/results", func(w http.ResponseWriter, r *http.Request) {
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		out := []*crucible.ResultEntry{}
		for _, e := range p.entries {
			if e.Seq > after && len(out) < 2 { // small pages exercise paging
				out = append(out, e)
			}
		}
		api.WriteJSON(w, 200, out)
	})
	mux.HandleFunc("GET /v1/results/artifacts/{key...}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := p.artifacts[r.PathValue("key")]
		if !ok {
			api.WriteError(w, crucible.Errorf(crucible.ENOTFOUND, "no artifact"))
			return
		}
		w.Write(b)
	})
	return mux
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// resultTar is a submission whose "weights" file holds the loss the test
// evaluator reports.
func resultTar(t *testing.T, loss string) []byte {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte(loss), 0o644)
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type lossEval struct{}

func (lossEval) Evaluate(_ context.Context, req auditor.EvalRequest) (float64, string, error) {
	if req.Evaluator != crucible.EvaluatorEngine && req.Evaluator != crucible.EvaluatorTorch {
		return 0, "", fmt.Errorf("re-run asked of evaluator kind %q", req.Evaluator)
	}
	b, err := os.ReadFile(filepath.Join(req.ModelDir, "model.safetensors"))
	if err != nil {
		return 0, "", err
	}
	if _, err := os.Stat(req.TestPath); err != nil {
		return 0, "", err
	}
	l, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return l, "", err
}

type models struct{}

func (models) ResolveModel(context.Context, string) (string, error) { return "/base", nil }

type setter struct{ got []scoring.Weight }

func (s *setter) SetWeights(_ context.Context, w []scoring.Weight) (int64, error) {
	s.got = w
	return 7, nil
}

// honestNetwork builds the log an honest validator writes for two tasks and
// one weight vector.
func honestNetwork(t *testing.T, key *sign.Keypair, fake map[string]string) *published {
	t.Helper()
	return loggedBy(t, key, fake, nil)
}

// loggedBy is honestNetwork with every task's losses logged as computed by
// evaluator ev (nil: not recorded, as before evaluators were).
func loggedBy(t *testing.T, key *sign.Keypair, fake map[string]string, ev *crucible.EvaluatorInfo) *published {
	t.Helper()
	p := &published{artifacts: map[string][]byte{}}
	spec := scoring.Default()
	var prev *crucible.ResultEntry
	appendEntry := func(kind string, payload any) {
		e, err := resultlog.Next(prev, kind, payload, key)
		if err != nil {
			t.Fatal(err)
		}
		p.entries = append(p.entries, e)
		prev = e
	}
	var tasks []resultlog.TaskResult
	for ti, losses := range []map[string]string{{"5A": "0.5", "5B": "0.75"}, {"5A": "0.9", "5B": "0.25", "5C": "0.625"}} {
		id := fmt.Sprintf("task%d", ti)
		test := []byte(`{"instruct":"q","output":"a"}` + "\n")
		p.artifacts["tasks/"+id+"/test.jsonl"] = test
		tr := resultlog.TaskResult{TaskID: id, TaskType: crucible.TaskInstruct, Model: "tiny", ModelParams: 1e6, Hours: 1,
			Work: spec.Work(1, 1e6), SpecVersion: spec.Version, TestData: "tasks/" + id + "/test.jsonl", TestSHA256: sum(test),
			FinishedAt: now.Add(-time.Duration(10-ti) * time.Hour), Numerics: loggedNumerics, Evaluator: ev}
		var in []scoring.Result
		for _, h := range []string{"5A", "5B", "5C"} {
			loss, ok := losses[h]
			if !ok {
				continue
			}
			actual := loss
			if f, ok := fake[id+"/"+h]; ok {
				loss = f // the validator logs a loss its artifact does not give
			}
			l, _ := strconv.ParseFloat(loss, 64)
			tarb := resultTar(t, actual)
			key := "tasks/" + id + "/results/" + h + ".tar"
			p.artifacts[key] = tarb
			in = append(in, scoring.Result{Hotkey: h, Loss: l, SHA256: sum(tarb), SubmittedAt: tr.FinishedAt})
			tr.Miners = append(tr.Miners, resultlog.MinerResult{Hotkey: h, Loss: &l, SHA256: sum(tarb), ResultKey: key})
		}
		for _, r := range spec.Rank.RankTask(in) {
			for i := range tr.Miners {
				if tr.Miners[i].Hotkey == r.Hotkey {
					tr.Miners[i].Rank, tr.Miners[i].Score, tr.Miners[i].Reason = r.Rank, r.Score, r.Reason
				}
			}
			if r.Rank == 1 {
				tr.Winner = r.Hotkey
			}
		}
		tasks = append(tasks, tr)
		appendEntry(resultlog.KindTaskResult, tr)
	}
	w, err := spec.Weights(resultlog.Scores(tasks), now)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for _, x := range w {
		m[x.Hotkey] = x.Weight
	}
	appendEntry(resultlog.KindWeights, resultlog.Weights{SpecVersion: spec.Version, Weights: m, ComputedAt: now})
	return p
}

func audit(t *testing.T, key *sign.Keypair, p *published, onChain map[string]float64) (*auditor.Report, *setter) {
	t.Helper()
	return auditWith(t, key, p, onChain, lossEval{})
}

func auditWith(t *testing.T, key *sign.Keypair, p *published, onChain map[string]float64, ev auditor.Evaluator) (*auditor.Report, *setter) {
	t.Helper()
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	st := &setter{}
	a, err := auditor.New(auditor.Config{ValidatorHotkey: key.Address(), Sample: 10, Seed: 1}, auditor.Deps{
		Source: &auditor.HTTPSource{Base: srv.URL}, Eval: ev, Models: models{}, Verify: sign.VerifySignature,
		OnChain: func(context.Context) (map[string]float64, error) { return onChain, nil },
		Setter:  st, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

func published1(p *published) map[string]float64 {
	var w resultlog.Weights
	json.Unmarshal(p.entries[len(p.entries)-1].Payload, &w)
	return w.Weights
}

func TestHonestValidatorPasses(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	p := honestNetwork(t, key, nil)
	r, st := audit(t, key, p, published1(p))
	if !r.OK() {
		t.Fatalf("discrepancies in an honest log: %+v", r.Discrepancies)
	}
	if r.Entries != 3 || r.Tasks != 2 || r.WeightSets != 1 || len(r.Reevaluated) != 5 {
		t.Errorf("report %+v", r)
	}
	for _, re := range r.Reevaluated {
		if !re.Match {
			t.Errorf("re-evaluation mismatch %+v", re)
		}
	}
	total := 0.0
	for _, w := range st.got {
		total += w.Weight
	}
	if len(st.got) == 0 || math.Abs(total-1) > 1e-9 {
		t.Errorf("auditor did not set its weights: %+v", st.got)
	}
}

func has(r *auditor.Report, want string) bool {
	for _, d := range r.Discrepancies {
		if strings.Contains(d.Message, want) {
			return true
		}
	}
	return false
}

func TestTamperedEntryIsFlagged(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	p := honestNetwork(t, key, nil)
	e := p.entries[0]
	e.Payload = bytes.Replace(e.Payload, []byte(`"hours":1`), []byte(`"hours":9`), 1)
	r, _ := audit(t, key, p, published1(p))
	if !has(r, "altered") {
		t.Errorf("tampered entry not flagged: %+v", r.Discrepancies)
	}
}

func TestFalsifiedLossIsFlagged(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	// The validator claims 5B's loss on task0 was 0.375 (making it the winner);
	// its artifact evaluates to 0.75.
	p := honestNetwork(t, key, map[string]string{"task0/5B": "0.375"})
	r, _ := audit(t, key, p, published1(p))
	if !has(r, "loss was logged as 0.375") {
		t.Errorf("falsified loss not flagged: %+v", r.Discrepancies)
	}
}

func TestFalsifiedScoresAndWeightsAreFlagged(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	p := honestNetwork(t, key, nil)
	// Rewrite task1 so that 5C gets the win, re-signing properly: the chain of
	// hashes holds, but the scores do not follow from the losses.
	var tasks []resultlog.TaskResult
	for _, e := range p.entries[:2] {
		var tr resultlog.TaskResult
		json.Unmarshal(e.Payload, &tr)
		tasks = append(tasks, tr)
	}
	for i := range tasks[1].Miners {
		m := &tasks[1].Miners[i]
		m.Score = map[string]float64{"5A": 0, "5B": 0, "5C": 3}[m.Hotkey]
	}
	var prev *crucible.ResultEntry
	var entries []*crucible.ResultEntry
	for _, tr := range tasks {
		e, _ := resultlog.Next(prev, resultlog.KindTaskResult, tr, key)
		entries, prev = append(entries, e), e
	}
	forged := map[string]float64{"5C": 1}
	e, _ := resultlog.Next(prev, resultlog.KindWeights, resultlog.Weights{SpecVersion: scoring.SpecV1, Weights: forged, ComputedAt: now}, key)
	p.entries = append(entries, e)
	r, _ := audit(t, key, p, forged)
	if !has(r, "5C scored 3") || !has(r, "published weights differ") {
		t.Errorf("forged scores/weights not flagged: %+v", r.Discrepancies)
	}
}

func TestOnChainWeightsMustMatchPublished(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	p := honestNetwork(t, key, nil)
	r, _ := audit(t, key, p, map[string]float64{"5Sybil": 1})
	if !has(r, "weights on chain") || r.OnChainCosine == nil || *r.OnChainCosine != 0 {
		t.Errorf("on-chain mismatch not flagged: %+v", r.Discrepancies)
	}
}

// A loss logged by the PyTorch evaluator is re-run with the same kind and
// matches within crucible.TorchTolerance; beyond it, it is flagged. An
// engine loss must match bit for bit.
func TestTorchLossesMatchWithinTolerance(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	torchEv := &crucible.EvaluatorInfo{Kind: crucible.EvaluatorTorch, Version: "crucible_torch 1, torch 2.5.1, NVIDIA H100, compact"}
	// 0.75 evaluates to 0.75: logged 0.75000003 is 4e-8 off, within tolerance.
	p := loggedBy(t, key, map[string]string{"task0/5B": "0.75000003"}, torchEv)
	r, _ := audit(t, key, p, published1(p))
	if !r.OK() {
		t.Errorf("a torch loss within tolerance flagged: %+v", r.Discrepancies)
	}
	for _, re := range r.Reevaluated {
		if re.Evaluator != crucible.EvaluatorTorch || !re.Match {
			t.Errorf("re-evaluation %+v", re)
		}
	}
	// 1.3e-4 off: beyond the tolerance.
	p = loggedBy(t, key, map[string]string{"task0/5B": "0.7501"}, torchEv)
	if r, _ = audit(t, key, p, published1(p)); !has(r, "beyond the relative tolerance") {
		t.Errorf("a torch loss beyond tolerance not flagged: %+v", r.Discrepancies)
	}
	// The same 4e-8 from the engine is a discrepancy: it is deterministic.
	p = loggedBy(t, key, map[string]string{"task0/5B": "0.75000003"}, &crucible.EvaluatorInfo{Kind: crucible.EvaluatorEngine})
	if r, _ = audit(t, key, p, published1(p)); !has(r, "loss was logged as 0.75000003") {
		t.Errorf("an engine loss off by 4e-8 not flagged: %+v", r.Discrepancies)
	}
}
