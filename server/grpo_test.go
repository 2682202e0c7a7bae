package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// The rewards of a task request are checked before any work: their count,
// names, weights and code size, and that only grpo tasks carry them; a
// refused request stores nothing.
func TestBadRewardRequests(t *testing.T) {
	e := newEnv(t, Options{})
	var up api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &up)
	many := make([]crucible.Reward, crucible.MaxRewards+1)
	for i := range many {
		many[i] = crucible.Reward{Name: "r" + strings.Repeat("x", i), Weight: 1, Code: "def reward(p, c, e):\n    return 1\n"}
	}
	for _, tc := range []struct {
		name string
		req  api.CreateTaskRequest
		want string
	}{
		{"grpo without rewards", api.CreateTaskRequest{Type: crucible.TaskGRPO, Model: "tiny-llama", Dataset: up.Ref()}, "at least one reward"},
		{"rewards on an instruct task", api.CreateTaskRequest{Type: crucible.TaskInstruct, Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: 1}}}, "rewards are for grpo tasks, not instruct tasks"},
		{"too many rewards", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(), Rewards: many}, "at most 16"},
		{"negative weight", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: -1}}}, "must be a finite number ≥ 0"},
		{"weights summing to 0", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: 0}}}, "sum to 0"},
		{"a name with a path", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "../../etc/passwd", Weight: 1, Code: "x = 1"}}}, "reward name"},
		{"oversized code", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "big", Weight: 1, Code: strings.Repeat("#", crucible.MaxRewardCodeSize+1)}}}, "over the 65536-byte limit"},
		{"duplicate names", api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
			Rewards: []crucible.Reward{{Name: "a", Weight: 1, Code: "x"}, {Name: "a", Weight: 1, Code: "y"}}}, "named twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := e.do(e.customer, "POST", api.PathTasks, tc.req, http.StatusBadRequest, nil)
			if !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s does not say %q", body, tc.want)
			}
		})
	}
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if len(list.Tasks) != 0 {
		t.Fatalf("refused requests stored tasks: %+v", list.Tasks)
	}
	// Without a key nothing is checked or stored.
	e.do("", "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(),
		Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: 1}}}, http.StatusUnauthorized, nil)
}

// BaseReward gives the test backend the validator's grpo base evaluation.
func (b *testBackend) BaseReward(ctx context.Context, taskID string) (*crucible.RewardResult, error) {
	e, err := b.FindEvaluation(ctx, taskID)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.BaseReward, nil
}

// A grpo task's page shows rewards, higher is better: the scores as bars,
// the sampled reward while training as curves, each reward's mean per
// miner; the results API carries the base's and each miner's reward.
func TestDashboardGRPOTask(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	task := &crucible.Task{Type: crucible.TaskGRPO, Model: "tiny-llama", Dataset: "upload:x", HoursToComplete: 0.1, IsOrganic: true,
		Mapping: &crucible.ColumnMapping{FieldPrompt: "prompt"},
		Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: 1}, {Name: "number_first", Weight: 0.5, Code: "def reward(p, c, e):\n    return 1\n"}}}
	must(t, e.b.CreateTask(ctx, task))
	for i, h := range miners[:2] {
		must(t, e.b.CreateSubmission(ctx, &crucible.Submission{TaskID: task.ID, Hotkey: h, ExpectedName: "r" + h[:4]}))
		for step := 1; step <= 4; step++ {
			must(t, e.b.AppendEvent(ctx, &crucible.TaskEvent{TaskID: task.ID, Kind: crucible.EventProgress, Hotkey: h,
				Message: fmt.Sprintf("training: step %d", step), Data: map[string]any{"step": step, "train_reward": 0.1 * float64(step*(i+1))}}))
		}
		kl := 0.1 * float64(i+1)
		s, _ := e.b.FindSubmission(ctx, task.ID, h)
		s.Reward = &crucible.RewardResult{Score: 0.5 - 0.3*float64(i), Reward: 0.55 - 0.25*float64(i), KL: &kl, Parts: []float64{0.25, 0.6}, Completions: 40}
		q := 3.0 - 3*float64(i)
		s.QualityScore = &q
		s.Reason = []string{"highest reward", "rank 2 of 2"}[i]
		must(t, e.b.UpdateSubmission(ctx, s))
	}
	must(t, e.b.SaveEvaluation(ctx, &crucible.Evaluation{TaskID: task.ID, BaseReward: &crucible.RewardResult{Score: 0.05, Reward: 0.05, Parts: []float64{0, 0.1}, Completions: 40}}))
	got, _ := e.b.FindTask(ctx, task.ID)
	got.Winner = miners[0]
	must(t, e.b.UpdateTask(ctx, got))

	_, body := e.page("", "GET", "/tasks/"+task.ID, nil, "")
	if err := contains(body, "Reward while training", "Sampled reward per miner while training", "Rewards, one by one", "numeric_answer ×1",
		"number_first ×0.5", "Reward on the hidden prompts, less the KL guard (higher is better)", "(+0.4500 vs base)", "highest reward",
		`id="rewards"`, "<td>0.600</td>", "<td>0.250</td>"); err != nil {
		t.Fatal(err)
	}
	var res api.TaskResults
	e.do(e.admin, "GET", api.PathTasks+"/"+task.ID+"/results", nil, http.StatusOK, &res)
	if res.BaseReward == nil || res.BaseReward.Reward != 0.05 || len(res.Miners) != 2 || res.Miners[0].Reward == nil ||
		res.Miners[0].Hotkey != miners[0] || res.Miners[0].Reward.Parts[1] != 0.6 {
		t.Fatalf("results %+v", res)
	}
}
