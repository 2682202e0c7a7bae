package validatornode

import (
	"context"
	"fmt"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/queue"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/tuning"
	"github.com/crucible-net/crucible/validator"
)

// Submit checks a new task, fills in its defaults, and stores it together
// with its first lifecycle job in one transaction: either both exist or
// neither does, so a crash between writing the task and queuing its job
// cannot strand it. Returns EINVALID or ENOTFOUND for a task that does not
// check (validator.CheckTask).
func (n *Node) Submit(ctx context.Context, t *crucible.Task) error {
	return n.submit(ctx, t, "")
}

// submit is Submit with a first event to record in the same transaction.
func (n *Node) submit(ctx context.Context, t *crucible.Task, note string) error {
	if err := n.v.CheckTask(ctx, t); err != nil {
		return err
	}
	if t.Type == crucible.TaskGRPO {
		if err := n.checkGRPO(ctx, t); err != nil {
			return err
		}
	}
	return n.store.WithTx(ctx, func(tx *sqlstore.Store) error {
		if err := tx.CreateTask(ctx, t); err != nil {
			return err
		}
		if note != "" {
			if err := tx.AppendEvent(ctx, &crucible.TaskEvent{TaskID: t.ID, Kind: crucible.EventLog, Message: note}); err != nil {
				return err
			}
		}
		if n.afterTaskRow != nil {
			if err := n.afterTaskRow(); err != nil {
				return err
			}
		}
		if _, err := n.queue.InsertTx(ctx, tx.Tx(), queue.AdvanceTaskArgs{TaskID: t.ID}, nil); err != nil {
			return fmt.Errorf("queue task %s: %w", t.ID, err)
		}
		return nil
	})
}

// Cancel moves a task that has not finished to cancelled, with reason, and
// queues the lifecycle job that sees the terminal status and ends, in one
// transaction. A change the lifecycle saved in between is retried.
// Returns ENOTFOUND, and ECONFLICT when the task has already finished.
func (n *Node) Cancel(ctx context.Context, id, reason string) error {
	for attempt := 0; ; attempt++ {
		err := n.store.WithTx(ctx, func(tx *sqlstore.Store) error {
			t, err := tx.FindTask(ctx, id)
			if err != nil {
				return err
			}
			if t.Status.Terminal() {
				return crucible.Errorf(crucible.ECONFLICT, "task %s has already finished (%s)", id, t.Status)
			}
			t.Status, t.Failure = crucible.StatusCancelled, reason
			now := time.Now()
			t.CompletedAt = &now
			if err := tx.UpdateTask(ctx, t); err != nil {
				return err
			}
			_, err = n.queue.InsertTx(ctx, tx.Tx(), queue.AdvanceTaskArgs{TaskID: id}, nil)
			return err
		})
		if crucible.ErrorCode(err) != crucible.ECONFLICT || attempt >= 10 {
			return err
		}
		if t, ferr := n.store.FindTask(ctx, id); ferr == nil && t.Status.Terminal() {
			return err // finished meanwhile: the conflict is the answer
		}
	}
}

// Requeue queues a lifecycle job for every task that has not finished
// (a no-op for a task whose job is waiting or running) and returns how many
// tasks it looked at. Start calls it, so that a task whose job was lost
// (discarded after its attempts ran out, or never queued by an older
// version) moves on after a restart.
func (n *Node) Requeue(ctx context.Context) (int, error) {
	var open []crucible.TaskStatus
	for _, s := range crucible.Statuses {
		if !s.Terminal() {
			open = append(open, s)
		}
	}
	var ids []string
	for offset := 0; ; offset += 500 {
		tasks, _, err := n.store.FindTasks(ctx, crucible.TaskFilter{Statuses: open, Limit: 500, Offset: offset})
		if err != nil {
			return 0, fmt.Errorf("re-queue unfinished tasks: %w", err)
		}
		for _, t := range tasks {
			ids = append(ids, t.ID)
		}
		if len(tasks) < 500 {
			break
		}
	}
	for i, id := range ids {
		if _, err := n.queue.Insert(ctx, queue.AdvanceTaskArgs{TaskID: id}, nil); err != nil {
			return i, fmt.Errorf("re-queue task %s: %w", id, err)
		}
	}
	return len(ids), nil
}

// kick makes sure a lifecycle job is queued for the task and runs at once
// (queue.Queue.Kick). A job running its steps sees the kick when its step
// ends and steps again (advanceWorker); one whose run has ended but whose
// snooze is not saved yet runs again once it is (rerunKicked).
func (n *Node) kick(ctx context.Context, id string) {
	n.kicked.Store(id, true) // before the job can look: whichever run comes next takes it
	if _, err := n.queue.Kick(ctx, queue.AdvanceTaskArgs{TaskID: id}); err != nil {
		n.kicked.Delete(id)
		n.log.Warn("queue task", "task", id, "err", err)
	}
}

// scheduleSynthetic creates a synthetic task when the network has room
// (validator.NextSynthetic), one at a time.
func (n *Node) scheduleSynthetic(ctx context.Context) error {
	t, err := n.v.NextSynthetic(ctx, n.synth, 1)
	if err != nil || t == nil {
		return err
	}
	return n.submit(ctx, t, validator.SyntheticNote)
}

// checkGRPO runs a grpo task's rewards on its dataset's first rows (and
// checks its prompts fit the model) before the task is stored, so that a
// reward that fails is refused with its line and the row rather than
// failing the task later.
func (n *Node) checkGRPO(ctx context.Context, t *crucible.Task) error {
	path, err := n.ds.Resolve(t.Dataset)
	if err != nil {
		return err
	}
	dir, err := n.models.ResolveModel(ctx, t.Model)
	if err != nil {
		return err
	}
	return tuning.CheckGRPOTask(path, t.Mapping, t.Rewards, dir, 0)
}
