package validatornode

import (
	"context"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/validator"
)

// SetAfterTaskRow installs a hook that runs inside Submit's transaction
// after the task row is written and before its job is queued.
func SetAfterTaskRow(n *Node, f func() error) { n.afterTaskRow = f }

// JobsFor counts the lifecycle jobs of a task in any state.
func JobsFor(n *Node, taskID string) (int, error) {
	q := "SELECT COUNT(*) FROM river_job WHERE kind = 'advance_task' AND json_extract(args, '$.task_id') = ?"
	if n.store.Dialect() == "postgres" {
		q = "SELECT COUNT(*) FROM river_job WHERE kind = 'advance_task' AND args->>'task_id' = $1"
	}
	var c int
	err := n.store.DB().QueryRow(q, taskID).Scan(&c)
	return c, err
}

// SetAfterStep installs a hook that runs after each lifecycle step with
// the time the step asked to be called again (zero: the task ended).
func SetAfterStep(n *Node, f func(taskID string, next time.Time)) { n.afterStep = f }

// Kick kicks a task as an upload to it does.
func Kick(n *Node, taskID string) { n.kick(context.Background(), taskID) }

// Kicked counts the tasks the node holds a kick for.
func Kicked(n *Node) int {
	c := 0
	n.kicked.Range(func(any, any) bool { c++; return true })
	return c
}

// UnfinishedJobsFor counts the lifecycle jobs of a task that have not
// finished (neither completed, cancelled nor discarded).
func UnfinishedJobsFor(n *Node, taskID string) (int, error) {
	q := "SELECT COUNT(*) FROM river_job WHERE kind = 'advance_task' AND json_extract(args, '$.task_id') = ? AND state NOT IN ('completed', 'cancelled', 'discarded')"
	if n.store.Dialect() == "postgres" {
		q = "SELECT COUNT(*) FROM river_job WHERE kind = 'advance_task' AND args->>'task_id' = $1 AND state NOT IN ('completed', 'cancelled', 'discarded')"
	}
	var c int
	err := n.store.DB().QueryRow(q, taskID).Scan(&c)
	return c, err
}

// SyntheticCandidates is what the node builds its synthetic tasks from.
func SyntheticCandidates(cfg *Config) ([]validator.Synthetic, error) { return syntheticCandidates(cfg) }

// FormBackend is the node's customer backend, for the parts the dashboard's
// new-task form uses beyond server.Backend.
func FormBackend(n *Node) interface {
	RewardBuiltins() []api.RewardBuiltin
	CheckGRPO(ctx context.Context, t *crucible.Task) error
} {
	return backend{Store: n.store, n: n}
}
