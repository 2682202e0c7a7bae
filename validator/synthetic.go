package validator

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
)

// Synthetic is a model and dataset the validator may build a synthetic task
// from when no customer is waiting, so miners stay busy and measured.
type Synthetic struct {
	Type    crucible.TaskType
	Model   string
	Dataset string
	Hours   float64 // 0 picks the budget from the dataset's size
	// Rewards are a grpo dataset's rewards (from its rewards file).
	Rewards []crucible.Reward
}

// live lists the statuses of tasks that are still in play.
var live = []crucible.TaskStatus{
	crucible.StatusPending, crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusDelayed,
	crucible.StatusReady, crucible.StatusTraining, crucible.StatusPreevaluation, crucible.StatusEvaluating,
}

// waiting lists the statuses of tasks that have not found their miners yet.
var waiting = []crucible.TaskStatus{
	crucible.StatusPending, crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusDelayed,
}

// SyntheticNote is the event a synthetic task's history starts with.
const SyntheticNote = "synthetic task: keeps miners measured while no customer task waits"

// NextSynthetic returns a synthetic task to create from candidates when the
// network has room: no customer task is waiting for miners (customers come
// first), some miner serves, and fewer than maxLive synthetic tasks are in
// play. The candidate is chosen reproducibly from the validator's seed and
// the number of tasks so far, and checked as CheckTask does. It returns nil
// when there is no room. The caller stores the task and queues its
// lifecycle (validatornode does both in one transaction).
func (v *Validator) NextSynthetic(ctx context.Context, candidates []Synthetic, maxLive int) (*crucible.Task, error) {
	if len(candidates) == 0 {
		return nil, nil
	}
	nodes, err := v.Store.FindNodes(ctx)
	if err != nil {
		return nil, err
	}
	miners := 0
	for _, n := range nodes {
		if !n.IsValidator() && n.IP != "" && n.Port != 0 {
			miners++
		}
	}
	if miners == 0 {
		return nil, nil // nobody to keep busy
	}
	tasks, _, err := v.Store.FindTasks(ctx, crucible.TaskFilter{Statuses: live, Limit: 1000})
	if err != nil {
		return nil, err
	}
	synthetic := 0
	for _, t := range tasks {
		if t.IsOrganic {
			for _, s := range waiting {
				if t.Status == s {
					return nil, nil
				}
			}
			continue
		}
		synthetic++
	}
	if synthetic >= maxLive {
		return nil, nil
	}
	_, total, err := v.Store.FindTasks(ctx, crucible.TaskFilter{Limit: 1})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(fmt.Appendf(nil, "synthetic/%d/%d", v.cfg.Seed, total))
	c := candidates[binary.LittleEndian.Uint64(h[:8])%uint64(len(candidates))]
	t := &crucible.Task{Type: c.Type, Model: c.Model, Dataset: c.Dataset, HoursToComplete: c.Hours, IsOrganic: false, Rewards: c.Rewards}
	if err := v.CheckTask(ctx, t); err != nil {
		return nil, fmt.Errorf("synthetic task on %s with %s: %w", c.Model, c.Dataset, err)
	}
	return t, nil
}
