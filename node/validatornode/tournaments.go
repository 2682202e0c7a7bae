package validatornode

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/queue"
	"github.com/crucible-net/crucible/sqlstore"
)

// Announce checks a tournament's settings and stores it in its entry
// window together with its lifecycle job, in one transaction; the job
// announces it to the miners. Returns EINVALID for bad settings.
func (n *Node) Announce(ctx context.Context, s crucible.TournamentSettings) (*crucible.Tournament, error) {
	if err := n.v.CheckTournament(ctx, &s); err != nil {
		return nil, err
	}
	t := &crucible.Tournament{Settings: s, EntriesClose: time.Now().Add(s.EntryWindow)}
	err := n.store.WithTx(ctx, func(tx *sqlstore.Store) error {
		if err := tx.CreateTournament(ctx, t); err != nil {
			return err
		}
		if err := tx.AppendTournamentEvent(ctx, &crucible.TournamentEvent{TournamentID: t.ID, Kind: "status",
			Message: fmt.Sprintf("announced: entries open until %s", t.EntriesClose.UTC().Format(time.RFC3339))}); err != nil {
			return err
		}
		_, err := n.queue.InsertTx(ctx, tx.Tx(), queue.AdvanceTournamentArgs{TournamentID: t.ID}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SeedChampion makes a miner the champion of a network that has none, so
// that the first tournament ends in a boss round against it and customers'
// tasks go to it meanwhile. Returns ECONFLICT when there is a champion,
// EINVALID for a malformed method, EFORBIDDEN for a hotkey that is not a
// registered miner.
func (n *Node) SeedChampion(ctx context.Context, hotkey string, method crucible.Method) (*crucible.Champion, error) {
	if err := method.Validate(); err != nil {
		return nil, err
	}
	if c, err := n.v.Champion(ctx); err == nil {
		return nil, crucible.Errorf(crucible.ECONFLICT, "%s is the champion already; a tournament decides the next one", c.Hotkey)
	} else if crucible.ErrorCode(err) != crucible.ENOTFOUND {
		return nil, err
	}
	if nd, err := n.store.FindNode(ctx, hotkey); err != nil || nd.Validator {
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "%s is not a registered miner", hotkey)
	}
	c := &crucible.Champion{Hotkey: hotkey, Method: method, MethodHash: method.Hash(), Wins: 1, Seeded: true}
	if err := n.store.AddChampion(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// requeueTournaments queues a lifecycle job for every tournament that has
// not ended.
func (n *Node) requeueTournaments(ctx context.Context) error {
	ts, err := n.store.FindTournaments(ctx, crucible.TournamentFilter{
		Statuses: []crucible.TournamentStatus{crucible.TournamentEntries, crucible.TournamentRunning}, Limit: 1000})
	if err != nil {
		return fmt.Errorf("re-queue tournaments: %w", err)
	}
	for _, t := range ts {
		n.kickTournament(ctx, t.ID)
	}
	return nil
}

// kickTournament makes sure a tournament's job is queued.
func (n *Node) kickTournament(ctx context.Context, id string) {
	if _, err := n.queue.Insert(ctx, queue.AdvanceTournamentArgs{TournamentID: id}, nil); err != nil {
		n.log.Warn("queue tournament", "tournament", id, "err", err)
	}
}

// tournamentWorker runs the tournament lifecycle job: one TournamentStep,
// then a snooze until it wants to run again (at most Poll later).
type tournamentWorker struct {
	river.WorkerDefaults[queue.AdvanceTournamentArgs]
	node *Node
}

func (w *tournamentWorker) Work(ctx context.Context, job *river.Job[queue.AdvanceTournamentArgs]) error {
	next, err := w.node.v.TournamentStep(ctx, job.Args.TournamentID)
	if err != nil {
		if crucible.ErrorCode(err) == crucible.ENOTFOUND {
			return river.JobCancel(err)
		}
		return err
	}
	if next.IsZero() {
		return nil
	}
	d := time.Until(next)
	if d <= 0 {
		d = time.Millisecond
	}
	return river.JobSnooze(min(d, w.node.cfg.Poll))
}

// localFees charges entry fees on the node's local chain.
type localFees struct{ l *chain.Local }

func (f localFees) ChargeFee(ctx context.Context, hotkey string, amount float64, memo string) (int64, error) {
	return f.l.ChargeFee(ctx, hotkey, amount, memo)
}

func (f localFees) RefundFee(ctx context.Context, hotkey, memo string) error {
	return f.l.RefundFee(ctx, hotkey, memo)
}
