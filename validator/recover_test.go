package validator_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/validator"
)

// forgetful is a miner that takes every task and then never knows it, as a
// miner that restarted without its state would.
type forgetful struct{ starts atomic.Int32 }

func (f *forgetful) Offer(context.Context, string, api.TaskOffer) (api.OfferResponse, error) {
	return api.OfferResponse{Accepted: true}, nil
}

func (f *forgetful) StartTraining(_ context.Context, _ string, req api.TrainRequest) (api.TrainResponse, error) {
	f.starts.Add(1)
	return api.TrainResponse{TaskID: req.TaskID}, nil
}

func (f *forgetful) TaskStatus(_ context.Context, _, id string) (api.MinerTaskStatus, error) {
	return api.MinerTaskStatus{}, crucible.Errorf(crucible.ENOTFOUND, "no task %s on this miner", id)
}

func (f *forgetful) Announce(context.Context, string, api.TournamentAnnouncement) (api.AnnounceResponse, error) {
	return api.AnnounceResponse{}, nil
}

// declineFirst is a real miner that declines the first offer it gets.
type declineFirst struct {
	*miner.Miner
	offers atomic.Int32
}

func (d *declineFirst) Offer(ctx context.Context, from string, o api.TaskOffer) (api.OfferResponse, error) {
	if d.offers.Add(1) == 1 {
		return api.OfferResponse{Message: "busy right now"}, nil
	}
	return d.Miner.Offer(ctx, from, o)
}

// A task whose only miner lost the job is offered again, to a miner that
// declined it at first (and to the one that lost it, which starts over),
// and still succeeds; the lost miner's failure says what happened.
func TestLostJobIsOfferedAgain(t *testing.T) {
	n := newNetwork(t, "", func(c *validator.Config) { c.ReofferMin = 2 * time.Second })
	lost := &forgetful{}
	n.addServer("5Forgets", lost)
	n.addServer("5Steady", &declineFirst{Miner: n.newMiner("5Steady", trainer("1.1"))})
	task := n.run(n.submit("facts.jsonl", 30.0/3600).ID)
	if task.Status != crucible.StatusSuccess || task.Winner != "5Steady" {
		t.Fatalf("status %s winner %q: %s", task.Status, task.Winner, task.Failure)
	}
	if s := n.subs(task.ID)["5Forgets"]; s.Failure == "" || !strings.Contains(s.Failure, "lost the job") {
		t.Errorf("the forgetful miner's failure: %q", s.Failure)
	}
	if lost.starts.Load() < 2 {
		t.Errorf("the miner that lost the job was started %d times, want it started again", lost.starts.Load())
	}
	events, _ := n.store.FindEvents(context.Background(), crucible.EventFilter{TaskID: task.ID})
	again := false
	for _, e := range events {
		again = again || strings.Contains(e.Message, "offered it again")
	}
	if !again {
		t.Error("no event says the task was offered again")
	}
}

// A miner that vanishes mid-training leaves a failure that says so, with
// when it stopped answering and how, and the task's failure names it.
func TestVanishedMinerSaysWhy(t *testing.T) {
	n := newNetwork(t, "", func(c *validator.Config) { c.MinerUnreachable = time.Second })
	srv := n.addServer("5Vanishes", n.newMiner("5Vanishes", "exec sleep 30"))
	id := n.submit("facts.jsonl", 4.0/3600).ID
	n.toTraining(id)
	srv.Close()
	task := n.run(id)
	if task.Status != crucible.StatusFailure || !strings.Contains(task.Failure, "5Vanishes") || !strings.Contains(task.Failure, "unreachable since") {
		t.Fatalf("status %s, failure %q", task.Status, task.Failure)
	}
}
