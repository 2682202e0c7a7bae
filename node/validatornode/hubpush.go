package validatornode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
)

// hubRecord is what the blob tasks/ID/hub.json keeps of a pushed winner.
type hubRecord struct {
	Repo     string    `json:"repo"`
	URL      string    `json:"url"`
	Commit   string    `json:"commit"`
	PushedAt time.Time `json:"pushed_at"`
}

// hubPushes pushes the winner of every successful public customer task not
// pushed yet to HubPush/crucible-TASK, oldest first, and records each push
// beside the task's result, so that a push is made once (and a failed one
// is tried again at the next round).
func (n *Node) hubPushes(ctx context.Context) error {
	tasks, _, err := n.store.FindTasks(ctx, crucible.TaskFilter{Statuses: []crucible.TaskStatus{crucible.StatusSuccess}, Limit: 100})
	if err != nil {
		return err
	}
	for i := len(tasks) - 1; i >= 0 && ctx.Err() == nil; i-- {
		t := tasks[i]
		if t.Private || !t.IsOrganic || t.ResultModel == "" {
			continue
		}
		key := "tasks/" + t.ID + "/hub.json"
		if _, err := n.blobs.Stat(ctx, key); err == nil {
			continue
		}
		rec, err := n.pushWinner(ctx, t)
		if err != nil {
			n.log.Warn("push a winner to the hub", "task", t.ID, "err", err)
			continue
		}
		b, _ := json.Marshal(rec)
		if _, err := n.blobs.Put(ctx, key, strings.NewReader(string(b))); err != nil {
			return err
		}
		if err := n.store.AppendEvent(ctx, &crucible.TaskEvent{TaskID: t.ID, Kind: crucible.EventLog, Message: "winner pushed to the hub: " + rec.URL,
			Data: map[string]any{"hub_repo": rec.Repo, "hub_commit": rec.Commit}}); err != nil {
			return err
		}
	}
	return nil
}

// pushWinner pushes one task's delivery (as the customer downloads it).
func (n *Node) pushWinner(ctx context.Context, t *crucible.Task) (*hubRecord, error) {
	rc, err := n.Deliver(ctx, t, false)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	work, err := os.MkdirTemp("", "crucible-hub-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	if _, err := api.ExtractTar(rc, work, api.ExtractLimits{}); err != nil {
		return nil, err
	}
	repo := n.cfg.HubPush + "/crucible-" + t.ID
	res, err := n.hub.Push(ctx, hub.Model, repo, filepath.Join(work, "crucible-"+t.ID),
		hub.PushOptions{Message: fmt.Sprintf("Upload the winner of crucible task %s", t.ID)})
	if err != nil {
		return nil, err
	}
	return &hubRecord{Repo: repo, URL: res.URL, Commit: res.Commit, PushedAt: time.Now().UTC()}, nil
}

// openHub sets up the hub client when the node pushes winners.
func (n *Node) openHub() error {
	if n.cfg.HubPush == "" {
		return nil
	}
	if _, err := hub.ParseRef(n.cfg.HubPush + "/x"); err != nil || strings.Contains(n.cfg.HubPush, "/") {
		return crucible.Errorf(crucible.EINVALID, "--hub-push %q is not a hub user or organization name", n.cfg.HubPush)
	}
	n.hub = hub.NewClient()
	if n.cfg.HubEndpoint != "" {
		n.hub.Endpoint = n.cfg.HubEndpoint
	}
	if n.hub.Token == "" {
		return crucible.Errorf(crucible.EINVALID, "--hub-push needs a hub token with write access").
			WithHint("set HF_TOKEN in the validator's environment")
	}
	return nil
}
