package validatornode

import (
	"context"
	"io"
	"os"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/delivery"
)

// Deliver returns a successful task's winner as its customer downloads it
// (delivery.Package): built once per form (as it is, or merged) and kept
// in the blob store beside the result, so later downloads stream it.
// Returns ECONFLICT for a task without a winner.
func (b backend) Deliver(ctx context.Context, t *crucible.Task, merged bool) (io.ReadCloser, error) {
	return b.n.Deliver(ctx, t, merged)
}

// Deliver is the node's side of backend.Deliver.
func (n *Node) Deliver(ctx context.Context, t *crucible.Task, merged bool) (io.ReadCloser, error) {
	if t.Status != crucible.StatusSuccess || t.ResultModel == "" {
		return nil, crucible.Errorf(crucible.ECONFLICT, "task %s has no winner to deliver (status %s)", t.ID, t.Status)
	}
	key := "tasks/" + t.ID + "/delivery.tar"
	if merged {
		key = "tasks/" + t.ID + "/delivery-merged.tar"
	}
	if rc, err := n.blobs.Get(ctx, key); err == nil {
		return rc, nil
	}
	card, err := n.deliveryCard(ctx, t)
	if err != nil {
		return nil, err
	}
	baseDir, err := n.models.ResolveModel(ctx, t.Model)
	if err != nil {
		return nil, err
	}
	result, err := n.blobs.Get(ctx, t.ResultModel)
	if err != nil {
		return nil, err
	}
	defer result.Close()
	f, err := os.CreateTemp("", "crucible-delivery-*.tar")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := delivery.Package(ctx, delivery.Spec{Result: result, BaseDir: baseDir, Merged: merged, Card: card}, f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := n.blobs.Put(ctx, key, f); err != nil {
		return nil, err
	}
	return n.blobs.Get(ctx, key)
}

// deliveryCard gathers what a task's model card states.
func (n *Node) deliveryCard(ctx context.Context, t *crucible.Task) (delivery.Card, error) {
	c := delivery.Card{TaskID: t.ID, Type: t.Type, BaseModel: t.Model, Dataset: t.DatasetLabel(), TrainRows: t.TrainRows,
		TestRows: t.TestRows, Hours: t.HoursToComplete, Miner: t.Winner, CustomTest: t.TestDataset != "", Validator: n.cfg.PublicURL}
	if sub, err := n.store.FindSubmission(ctx, t.ID, t.Winner); err == nil {
		c.TestLoss = sub.TestLoss
		if sub.Reward != nil {
			r := sub.Reward.Score
			c.Reward = &r
		}
	} else if crucible.ErrorCode(err) != crucible.ENOTFOUND {
		return c, err
	}
	if e, err := n.store.FindEvaluation(ctx, t.ID); err == nil {
		c.BaseLoss = e.BaseLoss
		if e.BaseReward != nil {
			r := e.BaseReward.Score
			c.BaseReward = &r
		}
	} else if crucible.ErrorCode(err) != crucible.ENOTFOUND {
		return c, err
	}
	return c, nil
}
