package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// TestTaskIDPrefix checks that a unique prefix of a task ID names the task
// for its owner and admins, that another account's tasks are never matched
// (not even public ones: a prefix must not probe for them), that an
// ambiguous prefix is refused with the IDs it matches, and that prefixes
// shorter than four characters or with other characters are plain unknown
// IDs.
func TestTaskIDPrefix(t *testing.T) {
	e := newEnv(t, Options{})
	var tasks []*crucible.Task
	for range 3 {
		tasks = append(tasks, e.createTask(e.customer, true))
	}
	public := e.createTask(e.other, false)
	for _, tk := range tasks {
		// The shortest prefix no other task of alice's starts with.
		n := 4
		for ; n < len(tk.ID); n++ {
			unique := true
			for _, o := range tasks {
				unique = unique && (o == tk || !strings.HasPrefix(o.ID, tk.ID[:n]))
			}
			if unique {
				break
			}
		}
		var got crucible.Task
		e.do(e.customer, "GET", api.PathTasks+"/"+tk.ID[:n], nil, http.StatusOK, &got)
		if got.ID != tk.ID {
			t.Errorf("prefix %s: got task %s, want %s", tk.ID[:n], got.ID, tk.ID)
		}
		e.do(e.admin, "GET", api.PathTasks+"/"+tk.ID[:n]+api.TaskResultsPath, nil, http.StatusOK, nil)
		e.do(e.other, "GET", api.PathTasks+"/"+tk.ID[:n], nil, http.StatusNotFound, nil)
	}
	e.do(e.customer, "GET", api.PathTasks+"/"+public.ID[:8], nil, http.StatusNotFound, nil)
	e.do(e.customer, "GET", api.PathTasks+"/"+public.ID, nil, http.StatusOK, nil) // the whole ID still works

	for _, bad := range []string{"%25%25%25%25", "____", "abc", "ABCD", "0000-'--"} {
		e.do(e.customer, "GET", api.PathTasks+"/"+bad, nil, http.StatusNotFound, nil)
	}
}

// ambiguousBackend answers every prefix search with two tasks.
type ambiguousBackend struct{ *testBackend }

func (b ambiguousBackend) FindTasks(ctx context.Context, f crucible.TaskFilter) ([]*crucible.Task, int, error) {
	if f.IDPrefix == "" {
		return b.testBackend.FindTasks(ctx, f)
	}
	return []*crucible.Task{{ID: f.IDPrefix + "-one"}, {ID: f.IDPrefix + "-two"}}, 3, nil
}

// TestTaskIDPrefixAmbiguous checks the refusal of a prefix that several
// tasks start with: it names them and says how many more there are.
func TestTaskIDPrefixAmbiguous(t *testing.T) {
	e := newEnv(t, Options{})
	s := New(ambiguousBackend{e.b}, Options{})
	c := &caller{account: &crucible.Account{ID: "acct"}}
	_, err := s.findTask(context.Background(), c, "abcd")
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "abcd-one, abcd-two and 1 more") {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

// TestDatasetNameKept checks that a task made from an upload keeps the
// uploaded file's name, and that the task list and page show it.
func TestDatasetNameKept(t *testing.T) {
	e := newEnv(t, Options{})
	task := e.createTask(e.customer, false)
	if task.DatasetName != "instruct.jsonl" {
		t.Fatalf("dataset name %q, want instruct.jsonl", task.DatasetName)
	}
	var got crucible.Task
	e.do(e.customer, "GET", api.PathTasks+"/"+task.ID, nil, http.StatusOK, &got)
	if got.DatasetName != "instruct.jsonl" || got.Dataset != task.Dataset {
		t.Errorf("stored task: dataset %q named %q", got.Dataset, got.DatasetName)
	}
	page := string(e.do(e.customer, "GET", "/tasks/"+task.ID, nil, http.StatusOK, nil))
	if !strings.Contains(page, "instruct.jsonl") || strings.Contains(page, "upload:") {
		t.Errorf("task page does not show the file name instead of the upload id")
	}
}

// TestDownloadMergedParam checks the download's merged parameter: a value
// that is not a boolean is refused, and a backend that cannot merge says
// so rather than serving the adapter under the merged name.
func TestDownloadMergedParam(t *testing.T) {
	e := newEnv(t, Options{})
	task := e.createTask(e.customer, true)
	e.simulate(task.ID)
	path := api.PathTasks + "/" + task.ID + api.TaskDownloadPath
	e.do(e.customer, "GET", path+"?merged=maybe", nil, http.StatusBadRequest, nil)
	e.do(e.customer, "GET", path+"?merged=true", nil, http.StatusBadRequest, nil)
	e.do(e.other, "GET", path+"?merged=true", nil, http.StatusNotFound, nil)
	e.do(e.customer, "GET", path+"?merged=false", nil, http.StatusOK, nil)
}
