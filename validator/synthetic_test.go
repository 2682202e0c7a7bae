package validator_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/validator"
)

func TestNextSynthetic(t *testing.T) {
	n := newNetwork(t, "", nil)
	ctx := context.Background()
	cands0 := []validator.Synthetic{{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "facts.jsonl"}}
	if none, err := n.v.NextSynthetic(ctx, cands0, 1); none != nil || err != nil {
		t.Fatalf("synthetic task with no miner to train it: %v %v", none, err)
	}
	n.addMiner("5Busy", trainer("1"))
	cands := []validator.Synthetic{
		{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "facts.jsonl"},
		{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "definitions.jsonl"},
	}
	first, err := n.v.NextSynthetic(ctx, cands, 1)
	if err != nil || first == nil {
		t.Fatalf("no synthetic task on an idle network: %v", err)
	}
	if first.IsOrganic || first.ID != "" {
		t.Errorf("synthetic task %+v: want an unsaved, non-organic task", first)
	}
	if err := n.store.CreateTask(ctx, first); err != nil {
		t.Fatal(err)
	}
	// One synthetic task in play is the limit here.
	if again, err := n.v.NextSynthetic(ctx, cands, 1); err != nil || again != nil {
		t.Fatalf("second synthetic task while one is live: %v %v", again, err)
	}
	// With room for two, a waiting customer task still comes first.
	n.submit("facts.jsonl", 1)
	if again, err := n.v.NextSynthetic(ctx, cands, 2); err != nil || again != nil {
		t.Fatalf("synthetic task while a customer waits: %v %v", again, err)
	}
	if none, err := n.v.NextSynthetic(ctx, nil, 5); none != nil || err != nil {
		t.Errorf("no candidates: %v %v", none, err)
	}
}

// A grpo candidate's rewards go with the task it makes.
func TestNextSyntheticGRPOCarriesRewards(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Busy", trainer("1"))
	rs := []crucible.Reward{{Name: "numeric_answer", Weight: 1}}
	got, err := n.v.NextSynthetic(context.Background(), []validator.Synthetic{{Type: crucible.TaskGRPO, Model: "tiny", Dataset: "arithmetic.jsonl", Rewards: rs}}, 1)
	if err != nil || got == nil {
		t.Fatalf("no synthetic grpo task: %v", err)
	}
	if got.Type != crucible.TaskGRPO || !reflect.DeepEqual(got.Rewards, rs) {
		t.Fatalf("synthetic grpo task %+v: want its candidate's rewards %+v", got, rs)
	}
}
