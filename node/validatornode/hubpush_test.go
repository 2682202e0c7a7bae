package validatornode_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub/hubtest"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/sign"
)

// succeed walks a stored task through the lifecycle to success with a
// full model as its winner's result.
func succeed(t *testing.T, n *validatornode.Node, task *crucible.Task) {
	t.Helper()
	ctx := context.Background()
	dir, err := localnet.TinyModel(t.TempDir(), "winner")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	key := "tasks/" + task.ID + "/results/winner.tar"
	if _, err := n.Blobs().Put(ctx, key, &buf); err != nil {
		t.Fatal(err)
	}
	for _, s := range []crucible.TaskStatus{crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusReady,
		crucible.StatusTraining, crucible.StatusPreevaluation, crucible.StatusEvaluating, crucible.StatusSuccess} {
		cur, err := n.Store().FindTask(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		cur.Status = s
		if s == crucible.StatusSuccess {
			cur.ResultModel, cur.Winner = key, "5Winner"
		}
		if err := n.Store().UpdateTask(ctx, cur); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHubPushOfPublicWinners runs a validator that pushes winners to a
// local hub: a successful public customer task's winner arrives there with
// its model card, once; a private task's does not.
func TestHubPushOfPublicWinners(t *testing.T) {
	h := hubtest.New(t, "hf_validator_token")
	t.Setenv("HF_TOKEN", h.Token)
	f := newFixture(t, "")
	cfg := validatornode.DefaultConfig()
	cfg.Home, cfg.DB, cfg.Listen, cfg.Assets = f.home, f.db, "127.0.0.1:0", f.models
	cfg.Poll, cfg.WeightsEvery, cfg.BlockTime = 200*time.Millisecond, 0, 50*time.Millisecond
	cfg.HubPush, cfg.HubEndpoint, cfg.HubEvery = "crucible-net", h.URL, 100*time.Millisecond
	key, _ := sign.FromURI("//validatornode-test")
	n, err := validatornode.Open(context.Background(), cfg, validatornode.Deps{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	public, private := f.task(), f.task()
	private.Private = true
	for _, task := range []*crucible.Task{public, private} {
		task.Dataset = "upload:x" // never prepared: the lifecycle is walked by hand
		if err := n.Store().CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		succeed(t, n, task)
	}
	deadline := time.Now().Add(30 * time.Second)
	var card []byte
	for ok := false; !ok; card, ok = h.File("crucible-net/crucible-"+public.ID, "README.md") {
		if time.Now().After(deadline) {
			t.Fatalf("the public winner was not pushed; hub requests: %v", h.Requests())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(string(card), `base_model: "tiny"`) {
		t.Errorf("model card: %s", card)
	}
	if _, ok := h.File("crucible-net/crucible-"+public.ID, "model.safetensors"); !ok {
		t.Error("no weights on the hub")
	}
	// Let a few more rounds pass: nothing is pushed twice, the private
	// task never.
	time.Sleep(500 * time.Millisecond) // rounds that must do nothing: there is no signal to wait for
	evs, _ := n.Store().FindEvents(ctx, crucible.EventFilter{TaskID: public.ID, Kind: crucible.EventLog})
	commits := 0
	for _, r := range h.Requests() {
		if strings.Contains(r, "/commit/") {
			commits++
		}
		if strings.Contains(r, private.ID) {
			t.Errorf("the private task's winner went to the hub: %s", r)
		}
	}
	if commits != 1 || len(evs) != 1 || !strings.Contains(evs[0].Message, "pushed to the hub") {
		t.Errorf("%d commits, events %+v", commits, evs)
	}
}

// TestHubPushNeedsToken checks that a validator told to push winners
// refuses to start without a token, or with an organization that is not
// one name.
func TestHubPushNeedsToken(t *testing.T) {
	f := newFixture(t, "")
	for _, tc := range []struct{ org, token string }{{"crucible-net", ""}, {"a/b", "hf_x"}, {"../x", "hf_x"}} {
		t.Setenv("HF_TOKEN", tc.token)
		cfg := validatornode.DefaultConfig()
		cfg.Home, cfg.DB, cfg.Listen, cfg.Assets, cfg.HubPush = f.home, f.db, "127.0.0.1:0", f.models, tc.org
		key, _ := sign.FromURI("//validatornode-test")
		n, err := validatornode.Open(context.Background(), cfg, validatornode.Deps{Key: key})
		if err == nil {
			n.Close()
			t.Errorf("--hub-push %q with token %q: opened", tc.org, tc.token)
		} else if crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("--hub-push %q: %v", tc.org, err)
		}
	}
}
