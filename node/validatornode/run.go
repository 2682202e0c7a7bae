package validatornode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/queue"
	"github.com/crucible-net/crucible/server"
)

// Run starts the node and serves until ctx ends or a part of it fails,
// then stops everything and releases the state.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		n.close()
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-n.errc:
	}
	cancel()
	return errors.Join(err, n.Wait())
}

// Start joins the chain (registers the hotkey, publishes the address,
// stakes on a local chain), bootstraps the admin account on a fresh store,
// re-queues every unfinished task, and starts serving, working the queue,
// syncing the metagraph, setting weights and scheduling synthetic tasks in
// the background until ctx ends; then call Wait. What an operator must see
// (the address, the admin key) goes to Deps.Out.
func (n *Node) Start(ctx context.Context) error {
	if err := node.JoinChainPatiently(ctx, n.chain, n.key, n.Addr(), n.cfg.Stake, n.log); err != nil {
		return err
	}
	if n.local != nil {
		if err := n.local.RunEpoch(ctx); err != nil { // hand out validator permits now
			return err
		}
	} else if node.IsURL(n.cfg.Chain) {
		n.awaitPermit(ctx)
	}
	fmt.Fprintf(n.out, "validator %s listening on %s (chain %s)\n", n.key.Address(), n.URL(), n.cfg.Chain)
	secret, created, err := server.Bootstrap(ctx, n.store)
	if err != nil {
		return err
	}
	if created {
		n.adminKey = secret
		fmt.Fprintf(n.out, "admin API key (shown once; log in to the dashboard with it): %s\n", secret)
	}
	if _, err := n.Requeue(ctx); err != nil {
		return err
	}
	if err := n.requeueTournaments(ctx); err != nil {
		return err
	}
	if err := n.SyncMetagraph(ctx); err != nil {
		// The chain went away after the join: the store keeps the last
		// metagraph, and the sync below tries again every few seconds.
		n.log.Warn("read metagraph", "err", err)
	}
	// A kick that comes after a step's last look at the task and before
	// its snooze is saved finds the job still running, which RunNow
	// leaves alone: once the snooze is saved, the job runs again at once.
	snoozed, stopSnoozed := n.queue.Subscribe(river.EventKindJobSnoozed)
	if err := n.queue.Start(ctx); err != nil {
		stopSnoozed()
		return err
	}
	n.goRun(func() error {
		defer stopSnoozed()
		n.rerunKicked(ctx, snoozed)
		return nil
	})
	n.closers = append(n.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return n.queue.StopAndCancel(sctx)
	})
	n.goRun(func() error { return node.Serve(ctx, n.lis, n.h) })
	if n.runClock {
		n.goRun(func() error { return n.local.Run(ctx, n.cfg.BlockTime) })
	}
	n.goRun(func() error { n.every(ctx, 5*time.Second, "metagraph sync", n.SyncMetagraph); return nil })
	if n.cfg.WeightsEvery > 0 {
		n.goRun(func() error {
			n.every(ctx, n.cfg.WeightsEvery, "set weights", func(ctx context.Context) error {
				_, err := n.v.SetWeights(ctx)
				return err
			})
			return nil
		})
	}
	n.goRun(func() error { return n.hooks.Run(ctx) })
	n.goRun(func() error {
		if err := n.heartbeat(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("heartbeat", "err", err)
		}
		n.every(ctx, n.cfg.HeartbeatEvery, "heartbeat", n.heartbeat)
		return nil
	})
	if n.hub != nil {
		n.goRun(func() error { n.every(ctx, n.cfg.HubEvery, "push winners to the hub", n.hubPushes); return nil })
	}
	if n.cfg.SyntheticEvery > 0 && len(n.synth) > 0 {
		n.goRun(func() error { n.every(ctx, n.cfg.SyntheticEvery, "synthetic task", n.scheduleSynthetic); return nil })
	}
	return nil
}

// Wait waits for the background work Start began to stop (after its ctx
// ended), then closes the store and releases the state directory.
func (n *Node) Wait() error {
	n.wg.Wait()
	var err error
	for done := false; !done; {
		select {
		case e := <-n.errc:
			err = errors.Join(err, e)
		default:
			done = true
		}
	}
	return errors.Join(err, n.close())
}

// awaitPermit waits (up to a minute) for this validator's permit on a
// remote chain, which hands permits out at its next epoch: miners answer
// only validators that hold one, so offers sent before it comes would all
// be declined.
func (n *Node) awaitPermit(ctx context.Context) {
	deadline := time.Now().Add(time.Minute)
	said := false
	for {
		mg, err := n.chain.Metagraph(ctx)
		if err == nil {
			if nd, err := mg.Node(n.key.Address()); err == nil && nd.Validator {
				return
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.log.Warn("no validator permit yet: miners decline offers until the chain grants one at an epoch", "hotkey", n.key.Address())
			return
		}
		if !said {
			fmt.Fprintf(n.out, "waiting for a validator permit (the chain grants permits at its next epoch)\n")
			said = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// rerunKicked runs a snoozed lifecycle job again at once when its task
// was kicked after the step's last look (see advanceWorker), until ctx
// ends or the events stop.
func (n *Node) rerunKicked(ctx context.Context, events <-chan *river.Event) {
	for {
		var ev *river.Event
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			ev = e
		}
		if ev.Job == nil || ev.Job.Kind != (queue.AdvanceTaskArgs{}).Kind() {
			continue
		}
		var args queue.AdvanceTaskArgs
		if err := json.Unmarshal(ev.Job.EncodedArgs, &args); err != nil {
			continue
		}
		if _, kicked := n.kicked.LoadAndDelete(args.TaskID); !kicked {
			continue
		}
		if _, err := n.queue.Kick(ctx, args); err != nil && ctx.Err() == nil {
			n.log.Warn("run task now", "task", args.TaskID, "err", err)
		}
	}
}

// goRun runs f in the background; an error it returns stops Run.
func (n *Node) goRun(f func() error) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := f(); err != nil {
			select {
			case n.errc <- err:
			default:
			}
		}
	}()
}

// every calls f every interval until ctx ends, logging its failures.
func (n *Node) every(ctx context.Context, interval time.Duration, what string, f func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := f(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn(what, "err", err)
			}
		}
	}
}

// SyncMetagraph copies the chain's metagraph into the store, where the
// lifecycle finds miners to offer tasks to.
func (n *Node) SyncMetagraph(ctx context.Context) error {
	if err := n.mg.Refresh(ctx); err != nil {
		return err
	}
	mg, err := n.mg.Get(ctx)
	if err != nil {
		return err
	}
	return n.store.UpsertNodes(ctx, mg.Nodes())
}

// advanceWorker runs the lifecycle job: Steps, one after another while the
// task can move on at once (a step asked to be called again now, or the
// task was kicked, an upload came, while it ran), then a snooze until the
// last step wants to run again (at most Poll later). Each step saves what
// it did before the next begins, so a crash between two steps of one run
// leaves what a crash between two runs would: the job is redone from the
// task as stored (queue.Queue.Start). Running the steps that follow at
// once in the same run, rather than snoozing for none, saves a trip
// through the queue (its completer's batch and its fetch poll, a few
// hundred milliseconds) between two steps.
type advanceWorker struct {
	river.WorkerDefaults[queue.AdvanceTaskArgs]
	node *Node
}

// stepsInARow bounds the steps one run of a task's job takes back to back;
// after that the job snoozes for none and goes through the queue again,
// behind the other tasks waiting for a worker.
const stepsInARow = 32

func (w *advanceWorker) Work(ctx context.Context, job *river.Job[queue.AdvanceTaskArgs]) error {
	for steps := 1; ; steps++ {
		w.node.kicked.Delete(job.Args.TaskID) // this step sees what happened until now
		next, err := w.node.v.Step(ctx, job.Args.TaskID)
		if w.node.afterStep != nil && err == nil {
			w.node.afterStep(job.Args.TaskID, next)
		}
		if err != nil {
			if crucible.ErrorCode(err) == crucible.ENOTFOUND {
				w.node.kicked.Delete(job.Args.TaskID)
				return river.JobCancel(err)
			}
			return err
		}
		if next.IsZero() {
			// The task has ended: a kick that came during this step has
			// nothing left to run (a later one queues a run of its own,
			// which ends here too).
			w.node.kicked.Delete(job.Args.TaskID)
			return nil
		}
		d := time.Until(next)
		if _, kicked := w.node.kicked.LoadAndDelete(job.Args.TaskID); kicked || d <= 0 {
			// Something happened to the task during the step, or the step
			// wants the next at once.
			if steps < stepsInARow && ctx.Err() == nil {
				continue
			}
			d = time.Millisecond
		}
		return river.JobSnooze(min(d, w.node.cfg.Poll))
	}
}

// Timeout lets evaluation and data preparation run for hours.
func (w *advanceWorker) Timeout(*river.Job[queue.AdvanceTaskArgs]) time.Duration {
	return 12 * time.Hour
}
