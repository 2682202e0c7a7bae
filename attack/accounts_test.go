package attack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
)

// upload uploads the first rows of the facts dataset as key's account and
// returns the upload's reference.
func upload(t *testing.T, n *testNet, key string) string {
	t.Helper()
	path, err := localnet.SampleDataset(t.TempDir(), assets.Facts, 60)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	up, err := api.NewClient(n.Validator.URL(), key).UploadDataset(context.Background(), "facts.jsonl", f)
	if err != nil {
		t.Fatal(err)
	}
	return up.Ref()
}

// createTask creates a task on ref as key's account.
func createTask(t *testing.T, n *testNet, key string, req api.CreateTaskRequest) *crucible.Task {
	t.Helper()
	req.Model = "tiny"
	body, _ := json.Marshal(req)
	r := do(t, apiReq(t, key, "POST", n.Validator.URL()+api.PathTasks, body))
	if r.status != http.StatusCreated {
		t.Fatalf("create task: %d %s", r.status, r.body)
	}
	var ct api.CreatedTask
	if err := json.Unmarshal([]byte(r.body), &ct); err != nil {
		t.Fatal(err)
	}
	return ct.Task
}

// TestAccountsAreWalled: one account cannot train on another's upload,
// see, follow, download or cancel its (private by default) task, or touch
// its keys; every attempt answers as if the thing did not exist (or was
// forbidden), and nothing changes: no task is created, the victim's task
// and keys stay as they were.
func TestAccountsAreWalled(t *testing.T) {
	ctx := context.Background()
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	base := n.Validator.URL()
	alice, mallory := newAccount(t, n, "alice"), newAccount(t, n, "mallory")
	ref := upload(t, n, alice)
	task := createTask(t, n, alice, api.CreateTaskRequest{Dataset: ref, Hours: 0.01})
	if !task.Private {
		t.Fatal("a task created without public is not private")
	}
	store := n.Validator.Store()
	_, before, err := store.FindTasks(ctx, crucible.TaskFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var aliceKeys []*crucible.APIKey
	json.Unmarshal([]byte(do(t, apiReq(t, alice, "GET", base+api.PathKeys, nil)).body), &aliceKeys)

	trainOn, _ := json.Marshal(api.CreateTaskRequest{Model: "tiny", Dataset: ref})
	expect(t, "a task on another's upload", do(t, apiReq(t, mallory, "POST", base+api.PathTasks, trainOn)), http.StatusNotFound, "no upload")
	expect(t, "an estimate on another's upload", do(t, apiReq(t, mallory, "POST", base+api.PathEstimate, trainOn)), http.StatusNotFound, "no upload")
	for _, sub := range []string{"", api.TaskResultsPath, api.TaskEventsPath, api.TaskDownloadPath} {
		expect(t, "GET "+sub+" of another's task", do(t, apiReq(t, mallory, "GET", base+api.PathTasks+"/"+task.ID+sub, nil)), http.StatusNotFound, "not found")
	}
	expect(t, "cancel another's task", do(t, apiReq(t, mallory, "POST", base+api.PathTasks+"/"+task.ID+api.TaskCancelPath, nil)), http.StatusNotFound, "not found")
	for _, p := range []string{"/tasks/" + task.ID, "/tasks/" + task.ID + "/download"} {
		req := apiReq(t, "", "GET", base+p, nil)
		req.AddCookie(&http.Cookie{Name: "crucible_key", Value: mallory})
		expect(t, "dashboard "+p+" of another's task", do(t, req), http.StatusNotFound, "")
	}
	if len(aliceKeys) == 0 {
		t.Fatal("alice has no keys")
	}
	expect(t, "revoke another's key", do(t, apiReq(t, mallory, "DELETE", base+api.PathKeys+"/"+aliceKeys[0].ID, nil)), http.StatusNotFound, "not found")
	expect(t, "list another's keys", do(t, apiReq(t, mallory, "GET", base+api.PathKeys+"?account="+task.AccountID, nil)), http.StatusForbidden, "only admins")
	expect(t, "the artifacts of another's private task", do(t, apiReq(t, mallory, "GET", base+"/v1/results/artifacts/tasks/"+task.ID+"/test.jsonl", nil)), http.StatusForbidden, "")
	var list api.TaskList
	json.Unmarshal([]byte(do(t, apiReq(t, mallory, "GET", base+api.PathTasks, nil)).body), &list)
	if list.Total != 0 {
		t.Errorf("mallory lists %d tasks", list.Total)
	}

	// Nothing changed: no task was created, alice's task was not
	// cancelled, her key still works.
	_, after, err := store.FindTasks(ctx, crucible.TaskFilter{})
	if err != nil || after != before {
		t.Errorf("tasks: %d before, %d after (%v)", before, after, err)
	}
	got, err := store.FindTask(ctx, task.ID)
	if err != nil || got.Status == crucible.StatusCancelled {
		t.Errorf("alice's task after the attacks: %v, %v", got, err)
	}
	expect(t, "alice's key", do(t, apiReq(t, alice, "GET", base+api.PathTasks+"/"+task.ID, nil)), http.StatusOK, "")
}

// TestPublicArtifactsNeedAKey: the artifacts a finished public task
// publishes for auditors (its test split, every result) are served only
// with an API key, unless the operator opts in (server's
// TestPublicDownloadsOptIn).
func TestPublicArtifactsNeedAKey(t *testing.T) {
	ctx := context.Background()
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	base := n.Validator.URL()
	alice, bob := newAccount(t, n, "alice"), newAccount(t, n, "bob")
	task := createTask(t, n, alice, api.CreateTaskRequest{Dataset: upload(t, n, alice), Public: true, Hours: 0.01})
	// Wait for its splits, then end it.
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := n.Validator.Store().FindTask(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.TestData != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no splits in time: %s", got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	expect(t, "cancel", do(t, apiReq(t, alice, "POST", base+api.PathTasks+"/"+task.ID+api.TaskCancelPath, nil)), http.StatusOK, "")
	url := base + "/v1/results/artifacts/tasks/" + task.ID + "/test.jsonl"
	expect(t, "anonymous", do(t, apiReq(t, "", "GET", url, nil)), http.StatusUnauthorized, "API key")
	r := do(t, apiReq(t, bob, "GET", url, nil))
	if r.status != http.StatusOK || !strings.Contains(r.body, "{") {
		t.Fatalf("with a key: %d %.200s", r.status, r.body)
	}
}
