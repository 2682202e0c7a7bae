package attack_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// traversals are ids a hostile peer or customer sends where crucible
// expects an id: each must be refused before it reaches a path, a blob
// key or a query.
var traversals = []string{
	"../../../../victim", "..", ".", "a/../../victim", "/tmp/victim", `..\..\victim`, "victim\x00", "",
	"%2e%2e%2fvictim", "tasks/x", "a b", "x" + string(make([]byte, 80)),
}

// trainRequest is a well-formed start_training for the miner at addr,
// whose links point at the validator at vaddr.
func trainRequest(taskID, name, vaddr string) api.TrainRequest {
	base := "http://" + vaddr
	return api.TrainRequest{
		TaskID: taskID, TaskType: crucible.TaskInstruct, Model: "tiny",
		ModelURL: base + api.PathBlob + "models/tiny.tar", DatasetURL: base + api.PathBlob + "tasks/x/train.jsonl",
		Mapping: &crucible.ColumnMapping{}, HoursToComplete: 0.1, Deadline: time.Now().Add(time.Hour),
		ExpectedName: name, UploadURL: base + api.PathUpload + taskID + "/" + name,
	}
}

// TestPathTraversalInIDs: a signed, authorised start_training whose
// task_id or expected_name climbs out of the miner's work directory is
// refused (400, naming the field) and nothing is written or removed, there
// or beside it; the same ids in the miner's task status, the validator's
// upload path and the customer API are refused the same way.
func TestPathTraversalInIDs(t *testing.T) {
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	m, vkey := n.Miners[0], n.Validator.Key()
	minerURL := "http://" + m.Addr()
	// A directory beside the miner's state that a traversal would reach.
	victim := filepath.Join(n.dir, "miners", "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "precious"), []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, n.dir)
	for _, bad := range traversals {
		for _, field := range []string{"task_id", "expected_name"} {
			req := trainRequest("0a1b2c3d", "5e6f7a8b", n.Validator.Addr())
			if field == "task_id" {
				req.TaskID = bad
			} else {
				req.ExpectedName = bad
			}
			body, _ := json.Marshal(req)
			r := do(t, signedReq(t, vkey, m.Key().Address(), "POST", minerURL+api.PathStartTraining, body))
			expect(t, "start_training with "+field+" "+bad, r, http.StatusBadRequest, field)
		}
		r := do(t, signedReq(t, vkey, m.Key().Address(), "GET", minerURL+api.PathTaskStatus+url.PathEscape(bad), nil))
		if r.status < 400 || r.status >= 500 {
			t.Errorf("task_status %q: status %d", bad, r.status)
		}
		// The validator's upload endpoint, signed by the registered miner.
		up := "http://" + n.Validator.Addr() + api.PathUpload + url.PathEscape(bad) + "/" + url.PathEscape(bad)
		r = do(t, signedReq(t, m.Key(), vkey.Address(), "PUT", up, []byte("not a tar")))
		if r.status < 400 || r.status >= 500 {
			t.Errorf("upload to %q: status %d", bad, r.status)
		}
	}
	// The validator's database records refusals in no table a traversal
	// reaches; its SQLite files may change (the WAL), nothing else may.
	unchanged(t, "path traversal attempts", before, n.dir, "validator/validator.db")
}
