package server

import (
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
