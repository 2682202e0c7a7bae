package sqlstore_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// A grpo task's rewards, its submissions' reward evaluations and the
// base's round-trip through the store.
func TestGRPORoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		task := newTask("m")
		task.Type = crucible.TaskGRPO
		task.Mapping = &crucible.ColumnMapping{FieldPrompt: "prompt", ExtraColumns: "answer"}
		task.Rewards = []crucible.Reward{
			{Name: "numeric_answer", Weight: 1, Args: map[string]any{"tolerance": "0.01"}},
			{Name: "mine", Weight: 0.5, Code: "def reward(p, c, e):\n    return 1\n"},
		}
		task = mustCreate(t, s, task)
		got, err := s.FindTask(ctx, task.ID)
		if err != nil || !reflect.DeepEqual(got.Rewards, task.Rewards) {
			t.Fatalf("rewards round trip: %+v, %v", got, err)
		}
		got.Status = crucible.StatusPreparingData
		if err := s.UpdateTask(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again, _ := s.FindTask(ctx, task.ID); !reflect.DeepEqual(again.Rewards, task.Rewards) {
			t.Fatalf("rewards after update: %+v", again.Rewards)
		}
		kl := 0.25
		sub := &crucible.Submission{TaskID: task.ID, Hotkey: "5Alice", ExpectedName: "r"}
		if err := s.CreateSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
		sub.Reward = &crucible.RewardResult{Score: 0.375, Reward: 0.5, KL: &kl, Parts: []float64{0.25, 0.5}, Completions: 40}
		if err := s.UpdateSubmission(ctx, sub); err != nil {
			t.Fatal(err)
		}
		gs, err := s.FindSubmission(ctx, task.ID, "5Alice")
		if err != nil || !reflect.DeepEqual(gs.Reward, sub.Reward) || !gs.Settled() || gs.TestLoss != nil {
			t.Fatalf("submission reward round trip: %+v, %v", gs, err)
		}
		rec := &crucible.Evaluation{TaskID: task.ID, BaseReward: &crucible.RewardResult{Score: 0.1, Reward: 0.1, Parts: []float64{0, 0.2}, Completions: 40}}
		if err := s.SaveEvaluation(ctx, rec); err != nil {
			t.Fatal(err)
		}
		ge, err := s.FindEvaluation(ctx, task.ID)
		if err != nil || !reflect.DeepEqual(ge.BaseReward, rec.BaseReward) || ge.BaseLoss != nil {
			t.Fatalf("base reward round trip: %+v, %v", ge, err)
		}
	})
}
