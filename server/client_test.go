package server

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// TestClient drives the whole customer flow through api.Client, as the CLI
// does.
func TestClient(t *testing.T) {
	e := newEnv(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := api.NewClient(e.ts.URL, e.customer)

	models, err := c.Models(ctx)
	if err != nil || strings.Join(models, ",") != "tiny-gpt2,tiny-llama" {
		t.Fatalf("models %v, %v", models, err)
	}
	bad, _ := os.ReadFile("testdata/bad.jsonl")
	_, err = c.UploadDataset(ctx, "bad.jsonl", bytes.NewReader(bad))
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "bad.jsonl:3:") {
		t.Fatalf("bad upload: %v", err)
	}
	good, _ := os.ReadFile("testdata/instruct.jsonl")
	up, err := c.UploadDataset(ctx, "instruct.jsonl", bytes.NewReader(good))
	must(t, err)
	req := api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref()}
	est, err := c.Estimate(ctx, req)
	must(t, err)
	created, err := c.CreateTask(ctx, req)
	must(t, err)
	if created.Estimate.TrainRows != est.TrainRows {
		t.Fatalf("estimate %+v, created with %+v", est, created.Estimate)
	}
	id := created.Task.ID

	// Watch the task while the validator (simulated) runs it.
	type result struct {
		status crucible.TaskStatus
		steps  int
		err    error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.status, r.err = c.Watch(ctx, id, 0, func(ev *crucible.TaskEvent) error {
			if _, ok := ev.Data["train_loss"]; ok {
				r.steps++
			}
			return nil
		})
		done <- r
	}()
	e.simulate(id)
	r := <-done
	if r.err != nil || r.status != crucible.StatusSuccess || r.steps != 8*len(miners) {
		t.Fatalf("watch: %+v", r)
	}

	list, err := c.Tasks(ctx, api.TaskQuery{Statuses: []crucible.TaskStatus{crucible.StatusSuccess}})
	if err != nil || list.Total != 1 {
		t.Fatalf("tasks: %+v, %v", list, err)
	}
	res, err := c.Results(ctx, id)
	if err != nil || res.Miners[0].Hotkey != miners[1] {
		t.Fatalf("results: %v", err)
	}
	var buf bytes.Buffer
	if _, err := c.Download(ctx, id, "tar", &buf); err != nil {
		t.Fatal(err)
	}
	if names := tarNames(t, &buf); len(names) != 2 {
		t.Fatalf("downloaded %v", names)
	}
	if _, err := c.Cancel(ctx, id); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Fatalf("cancel a finished task: %v", err)
	}
	if _, err := c.Network(ctx); err != nil {
		t.Fatal(err)
	}
	if board, err := c.Miners(ctx, 30); err != nil || len(board) != 3 {
		t.Fatalf("miners: %v", err)
	}

	// Keys: create, list, revoke; a revoked key is refused.
	ck, err := c.CreateKey(ctx, api.CreateKeyRequest{Name: "ci"})
	must(t, err)
	keys, err := c.Keys(ctx, "")
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys: %d, %v", len(keys), err)
	}
	must(t, c.RevokeKey(ctx, ck.Key.ID))
	if _, err := api.NewClient(e.ts.URL, ck.Secret).Tasks(ctx, api.TaskQuery{}); crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
		t.Fatalf("revoked key: %v", err)
	}
	if _, err := api.NewClient(e.ts.URL, ck.Secret).Watch(ctx, id, 0, func(*crucible.TaskEvent) error { return nil }); crucible.ErrorCode(err) != crucible.EUNAUTHORIZED {
		t.Fatalf("watch with a revoked key: %v", err)
	}
	// An unknown key is refused with a hint on where keys come from.
	_, err = api.NewClient(e.ts.URL, "crk_nosuchkey").Tasks(ctx, api.TaskQuery{})
	if crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || !strings.Contains(crucible.ErrorHint(err), "crucible apikeys create") {
		t.Fatalf("unknown key: %v (hint %q)", err, crucible.ErrorHint(err))
	}
}
