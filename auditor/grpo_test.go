package auditor_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
	"github.com/crucible-net/crucible/sign"
)

var grpoRewards = []crucible.Reward{{Name: "numeric_answer", Weight: 1}, {Name: "mine", Weight: 0.5, Code: "def reward(p, c, e):\n    return 1\n"}}

// rewardEval reports the score a submission's file holds, but only when
// asked the way the validator evaluates a grpo task: the task's rewards
// and the seed derived from its ID.
type rewardEval struct{ t *testing.T }

func (e rewardEval) Evaluate(_ context.Context, req auditor.EvalRequest) (float64, string, error) {
	if req.TaskType != crucible.TaskGRPO || !reflect.DeepEqual(req.Rewards, grpoRewards) || req.Seed != crucible.EvalSeed("grpo-task") {
		return 0, "", fmt.Errorf("grpo re-evaluation asked with type %s, rewards %v, seed %d", req.TaskType, req.Rewards, req.Seed)
	}
	b, err := os.ReadFile(filepath.Join(req.ModelDir, "model.safetensors"))
	if err != nil {
		return 0, "", err
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	return v, "", err
}

// grpoNetwork is a log with one grpo task whose miners rank by reward,
// highest first; lie replaces a miner's logged score.
func grpoNetwork(t *testing.T, key *sign.Keypair, lie map[string]float64, swapRanks bool) *published {
	p := &published{artifacts: map[string][]byte{}}
	spec := scoring.Default()
	test := []byte(`{"prompt":"Question: 2+2?\nAnswer:","answer":4}` + "\n")
	p.artifacts["tasks/grpo-task/test.jsonl"] = test
	tr := resultlog.TaskResult{TaskID: "grpo-task", TaskType: crucible.TaskGRPO, Model: "tiny", ModelParams: 1e6, Hours: 1,
		Work: spec.Work(1, 1e6), SpecVersion: spec.Version, TestData: "tasks/grpo-task/test.jsonl", TestSHA256: sum(test),
		FinishedAt: now.Add(-time.Hour), Rewards: grpoRewards, BaseReward: &crucible.RewardResult{Score: 0.1, Reward: 0.1, Parts: []float64{0, 0.2}}}
	var in []scoring.Result
	for _, m := range []struct {
		h     string
		score float64
	}{{"5A", 0.25}, {"5B", 0.75}, {"5C", 0.5}} {
		tarb := resultTar(t, strconv.FormatFloat(m.score, 'g', -1, 64))
		key := "tasks/grpo-task/results/" + m.h + ".tar"
		p.artifacts[key] = tarb
		logged := m.score
		if v, ok := lie[m.h]; ok {
			logged = v
		}
		score := logged
		in = append(in, scoring.Result{Hotkey: m.h, Reward: &score, SHA256: sum(tarb), SubmittedAt: tr.FinishedAt})
		tr.Miners = append(tr.Miners, resultlog.MinerResult{Hotkey: m.h, SHA256: sum(tarb), ResultKey: key,
			Reward: &crucible.RewardResult{Score: logged, Reward: logged, Parts: []float64{logged, 1}}})
	}
	ranked := spec.Rank.RankTask(in)
	if swapRanks { // a validator that ranked the lowest reward first
		ranked[0].Score, ranked[len(ranked)-1].Score = ranked[len(ranked)-1].Score, ranked[0].Score
	}
	for _, r := range ranked {
		for i := range tr.Miners {
			if tr.Miners[i].Hotkey == r.Hotkey {
				tr.Miners[i].Rank, tr.Miners[i].Score, tr.Miners[i].Reason = r.Rank, r.Score, r.Reason
			}
		}
	}
	e, err := resultlog.Next(nil, resultlog.KindTaskResult, tr, key)
	if err != nil {
		t.Fatal(err)
	}
	p.entries = append(p.entries, e)
	return p
}

func auditGRPO(t *testing.T, key *sign.Keypair, p *published) *auditor.Report {
	srv := httptest.NewServer(p.handler())
	defer srv.Close()
	a, err := auditor.New(auditor.Config{ValidatorHotkey: key.Address(), Sample: 10, Seed: 1}, auditor.Deps{
		Source: &auditor.HTTPSource{Base: srv.URL}, Eval: rewardEval{t}, Models: models{}, Verify: sign.VerifySignature,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// The auditor re-ranks a grpo task by reward, highest first, and
// re-evaluates its submissions with the task's rewards and seed: an honest
// log passes, a falsified reward and an inverted ranking are flagged.
func TestGRPOAudit(t *testing.T) {
	key, _ := sign.FromURI("//Validator")
	r := auditGRPO(t, key, grpoNetwork(t, key, nil, false))
	if !r.OK() || len(r.Reevaluated) != 3 {
		t.Fatalf("honest grpo log: %+v", r)
	}
	for _, re := range r.Reevaluated {
		if !re.Match {
			t.Errorf("re-evaluation mismatch %+v", re)
		}
	}
	r = auditGRPO(t, key, grpoNetwork(t, key, map[string]float64{"5A": 0.9}, false))
	if !has(r, "5A's reward was logged as 0.9") {
		t.Errorf("falsified reward not flagged: %+v", r.Discrepancies)
	}
	r = auditGRPO(t, key, grpoNetwork(t, key, nil, true))
	if !has(r, "scored") {
		t.Errorf("inverted ranking not flagged: %+v", r.Discrepancies)
	}
}
