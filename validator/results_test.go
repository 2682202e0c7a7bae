package validator_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

func TestResultsLogAndWeights(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Good", trainer("0.8"))
	n.addMiner("5Better", trainer("0.6"))
	task := n.run(n.submit("facts.jsonl", 0.01).ID)
	ctx := context.Background()
	w, err := n.v.SetWeights(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(w) != 1 || w[0].Hotkey != "5Better" || math.Abs(w[0].Weight-1) > 1e-12 {
		t.Errorf("weights %+v", w)
	}
	srv := httptest.NewServer(n.v.ResultsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/results")
	if err != nil {
		t.Fatal(err)
	}
	var entries []*crucible.ResultEntry
	json.NewDecoder(resp.Body).Decode(&entries)
	resp.Body.Close()
	if len(entries) != 2 || entries[0].Kind != resultlog.KindTaskResult || entries[1].Kind != resultlog.KindWeights {
		t.Fatalf("log: %d entries", len(entries))
	}
	key := validatorKey(t)
	if p := resultlog.Verify(entries, 1, "", key.Address(), sign.VerifySignature); len(p) != 0 {
		t.Errorf("log does not verify: %v", p)
	}
	var tr resultlog.TaskResult
	json.Unmarshal(entries[0].Payload, &tr)
	if tr.TaskID != task.ID || tr.Winner != "5Better" || len(tr.Miners) != 2 || tr.TestSHA256 == "" || tr.BaseLoss == nil {
		t.Errorf("task result %+v", tr)
	}
	// A finished public task's artifacts are published.
	for _, c := range []struct {
		key  string
		want int
	}{
		{tr.TestData, http.StatusOK},
		{tr.Miners[0].ResultKey, http.StatusOK},
		{"tasks/nope/test.jsonl", http.StatusNotFound},
		{"elsewhere/x", http.StatusNotFound},
	} {
		resp, err := http.Get(srv.URL + "/v1/results/artifacts/" + c.key)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("artifact %s: %d, want %d", c.key, resp.StatusCode, c.want)
		}
	}
	// Logging again (a re-run after a crash) does not duplicate the task.
	n.restart()
	if _, err := n.v.Step(ctx, task.ID); err != nil {
		t.Fatal(err)
	}
	all, _ := n.store.FindResults(ctx, 0, 0)
	if len(all) != 2 {
		t.Errorf("%d entries after a re-run", len(all))
	}
}

func TestRunningTaskArtifactsAreNotPublic(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5A", "exec sleep 20")
	task := n.toTraining(n.submit("facts.jsonl", 1).ID)
	srv := httptest.NewServer(n.v.ResultsHandler())
	defer srv.Close()
	resp, _ := http.Get(srv.URL + "/v1/results/artifacts/" + task.TestData)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("test split of a running task: %d", resp.StatusCode)
	}
}
