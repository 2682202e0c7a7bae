package server

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// createTask uploads instruct.jsonl and creates a task on it with key.
func (e *env) createTask(key string, private bool) *crucible.Task {
	e.t.Helper()
	var up api.DatasetUpload
	e.upload(key, "instruct.jsonl", http.StatusCreated, &up)
	var created api.CreatedTask
	e.do(key, "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(), Public: !private}, http.StatusCreated, &created)
	return created.Task
}

func TestTaskLifecycleAPI(t *testing.T) {
	e := newEnv(t, Options{})
	var up api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &up)
	if up.Rows != 60 || up.Format != crucible.TaskInstruct || up.Mapping.FieldInstruction != "instruction" || len(up.SHA256) != 64 {
		t.Fatalf("upload receipt: %+v", up)
	}
	req := api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref()}
	var est api.Estimate
	e.do(e.customer, "POST", api.PathEstimate, req, http.StatusOK, &est)
	if est.Type != crucible.TaskInstruct || est.Rows != 60 || est.TrainRows+est.TestRows != 60 || est.TestRows == 0 ||
		est.ModelParams != 4_200_000 || est.Hours <= 0 || est.ETA <= 0 || est.Cost <= 0 {
		t.Fatalf("estimate: %+v", est)
	}
	var created api.CreatedTask
	e.do(e.customer, "POST", api.PathTasks, req, http.StatusCreated, &created)
	task := created.Task
	if task.ID == "" || task.Status != crucible.StatusPending || task.Type != crucible.TaskInstruct || task.Mapping == nil ||
		task.Mapping.FieldOutput != "output" || task.HoursToComplete != est.Hours || !task.IsOrganic {
		t.Fatalf("created task: %+v", task)
	}

	// Follow the live stream while the task lives.
	type streamed struct {
		kinds []string
		steps int
		end   string
	}
	var got streamed
	var wg sync.WaitGroup
	wg.Add(1)
	resp := e.raw(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskEventsPath, nil, http.Header{"Accept": {"text/event-stream"}})
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("event stream content type %q", ct)
	}
	go func() {
		defer wg.Done()
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var event string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if event == api.EventEnd {
					got.end = line
					return
				}
				var ev crucible.TaskEvent
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil {
					t.Errorf("event data %q: %v", line, err)
				}
				got.kinds = append(got.kinds, ev.Kind)
				if _, ok := ev.Data["train_loss"]; ok {
					got.steps++
				}
			}
		}
	}()
	e.simulate(task.ID)
	wg.Wait()
	if !strings.Contains(got.end, `"success"`) || got.steps != 8*len(miners) || !containsAll(got.kinds, crucible.EventStatus, crucible.EventProgress) {
		t.Fatalf("stream: end %q, %d training steps, kinds %v", got.end, got.steps, got.kinds)
	}

	// Resuming after an id gives only what came after it.
	var all, after []*crucible.TaskEvent
	e.do(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskEventsPath, nil, http.StatusOK, &all)
	e.do(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskEventsPath+"?after="+itoa(all[len(all)-3].ID), nil, http.StatusOK, &after)
	if len(after) != 2 {
		t.Fatalf("events after the third last: got %d, want 2", len(after))
	}
	// A reconnecting EventSource resumes from Last-Event-ID; the stream of a
	// finished task ends with "end".
	resp = e.raw(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskEventsPath, nil,
		http.Header{"Accept": {"text/event-stream"}, "Last-Event-Id": {itoa(all[len(all)-3].ID)}})
	stream, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Count(string(stream), "event: ") != 3 ||
		!strings.Contains(string(stream), "id: "+itoa(all[len(all)-1].ID)+"\nevent: status") ||
		!strings.HasSuffix(string(stream), "event: end\ndata: {\"status\":\"success\"}\n\n") {
		t.Fatalf("resumed stream:\n%s", stream)
	}

	var res api.TaskResults
	e.do(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskResultsPath, nil, http.StatusOK, &res)
	if len(res.Miners) != 3 || res.Miners[0].Hotkey != miners[1] || !res.Miners[0].Winner || res.Miners[0].Rank != 1 ||
		res.Miners[1].Hotkey != miners[2] || res.Miners[2].Rank != 3 || res.BaseLoss == nil || *res.BaseLoss != 1.95 {
		t.Fatalf("results: %s", mustJSON(res))
	}

	for _, format := range []string{"tar", "tar.gz"} {
		resp := e.raw(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskDownloadPath+"?format="+format, nil, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Disposition"), task.ID+"."+format) {
			t.Fatalf("download %s: %s %v", format, resp.Status, resp.Header)
		}
		var r io.Reader = resp.Body
		if format == "tar.gz" {
			zr, err := gzip.NewReader(resp.Body)
			must(t, err)
			r = zr
		}
		names := tarNames(t, r)
		resp.Body.Close()
		if strings.Join(names, ",") != "config.json,model.safetensors" {
			t.Fatalf("download %s holds %v", format, names)
		}
	}

	var st api.NetworkStatus
	e.do("", "GET", api.PathNetwork, nil, http.StatusOK, &st)
	if st.Tasks != 1 || st.TasksSucceeded != 1 || st.ParamsTrained != 4_200_000 || st.RowsTrainedOn != 54 || st.Miners != 3 || st.Validators != 1 || st.LastWeightsAt == nil {
		t.Fatalf("network status: %+v", st)
	}
	for _, days := range leaderboardDays {
		var board []*api.MinerStanding
		e.do("", "GET", api.PathMiners+"?days="+itoa(int64(days)), nil, http.StatusOK, &board)
		if len(board) != 3 || board[0].Hotkey != miners[1] || board[0].Wins != 1 || board[0].Score != 3 || board[0].Weight != 0.7 ||
			board[0].BestLoss == nil || *board[0].BestLoss != 1.18 || board[0].UID == nil || *board[0].UID != 2 {
			t.Fatalf("leaderboard over %d days: %s", days, mustJSON(board))
		}
	}
	var list api.TaskList
	e.do(e.customer, "GET", api.PathTasks+"?status=success", nil, http.StatusOK, &list)
	if list.Total != 1 || list.Tasks[0].ID != task.ID {
		t.Fatalf("list: %+v", list)
	}
	e.do(e.customer, "POST", api.PathTasks+"/"+task.ID+api.TaskCancelPath, nil, http.StatusConflict, nil)
}

func TestCancel(t *testing.T) {
	e := newEnv(t, Options{})
	task := e.createTask(e.customer, false)
	var got crucible.Task
	e.do(e.customer, "POST", api.PathTasks+"/"+task.ID+api.TaskCancelPath, nil, http.StatusOK, &got)
	if got.Status != crucible.StatusCancelled || got.CompletedAt == nil {
		t.Fatalf("cancelled task: %+v", got)
	}
	e.do(e.customer, "POST", api.PathTasks+"/"+task.ID+api.TaskCancelPath, nil, http.StatusConflict, nil)
	e.do(e.customer, "GET", api.PathTasks+"/"+task.ID+api.TaskDownloadPath, nil, http.StatusConflict, nil)
}

func TestBadUploads(t *testing.T) {
	e := newEnv(t, Options{MaxUpload: 1 << 20})
	for _, tc := range []struct {
		name, path, body string
		want             []string
	}{
		{"broken rows", "bad.jsonl", "", []string{"bad.jsonl has 2 problem(s)", "bad.jsonl:3:", "bad.jsonl:5:"}},
		{"empty file", "empty.jsonl", " ", []string{"empty"}},
		{"not a dataset name", "notes.txt", "hello", []string{"not a dataset file name"}},
		{"no name", "", "{}", []string{"?name=FILE"}},
		{"missing columns", "cols.csv", "a,b\n1,2\n3,4\n", []string{"cols.csv"}},
		{"too large", "big.jsonl", strings.Repeat(`{"text": "aaaaaaaaaaaaaaaaaaaaaaa"}`+"\n", 40000), []string{"larger than the 1 MiB limit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body == "" && tc.path != "" {
				body = e.upload(e.customer, tc.path, http.StatusBadRequest, nil)
			} else {
				resp := e.raw(e.customer, "POST", api.PathDatasets+"?name="+tc.path, strings.NewReader(strings.TrimSpace(tc.body)), nil)
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusBadRequest
				if tc.name == "too large" {
					want = http.StatusRequestEntityTooLarge
				}
				if resp.StatusCode != want {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
			}
			var er api.ErrorResponse
			must(t, json.Unmarshal(body, &er))
			if want := crucible.EINVALID; er.Code != want && !(tc.name == "too large" && er.Code == crucible.ETOOLARGE) {
				t.Fatalf("code %q", er.Code)
			}
			if err := contains(er.Message+" "+er.Hint, tc.want...); err != nil {
				t.Fatalf("%v in %q", err, er.Message)
			}
		})
	}
}

func TestBadTaskRequests(t *testing.T) {
	e := newEnv(t, Options{})
	var up api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &up)
	for _, tc := range []struct {
		name   string
		key    string
		req    api.CreateTaskRequest
		status int
		want   string
	}{
		{"unknown model", e.customer, api.CreateTaskRequest{Model: "gpt-9", Dataset: up.Ref()}, 400, `pick one of: tiny-gpt2, tiny-llama`},
		{"unknown model, admin", e.admin, api.CreateTaskRequest{Model: "gpt-9", Dataset: up.Ref()}, 404, "model gpt-9 not found"},
		{"no model", e.customer, api.CreateTaskRequest{Dataset: up.Ref()}, 400, "a model is required"},
		{"no dataset", e.customer, api.CreateTaskRequest{Model: "tiny-llama"}, 400, "a dataset is required"},
		{"server path", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: "/etc/passwd"}, 400, "neither an upload"},
		{"parent path", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: "../secret/data"}, 400, "neither an upload"},
		{"unknown upload", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: "upload:0123456789abcdef0123456789abcdef"}, 404, "no upload"},
		{"dataset not cached", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: "org/missing"}, 404, "not in the validator's cache"},
		// A relative path on the validator that looks like a hub id is looked up in the cache only.
		{"server path like a hub id", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: "testdata/instruct.jsonl"}, 404, "not in the validator's cache"},
		{"bad type", e.customer, api.CreateTaskRequest{Type: "vision", Model: "tiny-llama", Dataset: up.Ref()}, 400, "unknown task type"},
		{"mapping that does not fit", e.customer, api.CreateTaskRequest{Type: crucible.TaskInstruct, Model: "tiny-llama", Dataset: up.Ref(),
			Mapping: &crucible.ColumnMapping{FieldInstruction: "question", FieldOutput: "answer"}}, 400, ":1:"},
		{"negative hours", e.customer, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(), Hours: -1}, 400, "hours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := e.do(tc.key, "POST", api.PathTasks, tc.req, tc.status, nil)
			if !strings.Contains(string(body), tc.want) {
				t.Fatalf("%s does not say %q", body, tc.want)
			}
		})
	}
	// A validator without models says so instead of listing none.
	if got, want := pickModelHint(nil), "this validator offers no models"; !strings.HasPrefix(got, want) {
		t.Errorf("hint with no models %q, want %q", got, want)
	}
	// A picked dataset from the cache works.
	var created api.CreatedTask
	e.do(e.customer, "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-gpt2", Dataset: "crucible/tiny-instruct", Hours: 0.5}, http.StatusCreated, &created)
	if created.Task.HoursToComplete != 0.5 || created.Task.ModelParamsCount != 2_100_000 || created.Task.Dataset != "hf:crucible/tiny-instruct" {
		t.Fatalf("task on a picked dataset: %+v", created.Task)
	}
	// Unknown JSON fields are refused.
	resp := e.raw(e.customer, "POST", api.PathTasks, strings.NewReader(`{"model":"tiny-llama","dataset":"x/y","gpus":8}`), nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown field: %s", resp.Status)
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t, Options{})
	// Missing and unknown keys.
	for _, key := range []string{"", "crk_nope"} {
		for _, path := range []string{api.PathTasks, api.PathModels, api.PathKeys} {
			body := e.do(key, "GET", path, nil, http.StatusUnauthorized, nil)
			if !strings.Contains(string(body), `"code":"unauthorized"`) {
				t.Fatalf("GET %s with %q: %s", path, key, body)
			}
		}
	}
	// Public routes need no key, but a bad key is still refused.
	e.do("", "GET", api.PathNetwork, nil, http.StatusOK, nil)
	e.do("", "GET", api.PathOpenAPI, nil, http.StatusOK, nil)
	e.do("crk_nope", "GET", api.PathNetwork, nil, http.StatusUnauthorized, nil)

	// A second key of alice's, revoked, stops working; the first goes on.
	var ck api.CreatedKey
	e.do(e.customer, "POST", api.PathKeys, api.CreateKeyRequest{Name: "laptop"}, http.StatusCreated, &ck)
	if !strings.HasPrefix(ck.Secret, keyPrefix) || ck.Key.Prefix == "" || !strings.HasPrefix(ck.Secret, ck.Key.Prefix) {
		t.Fatalf("created key: %+v", ck)
	}
	e.do(ck.Secret, "GET", api.PathTasks, nil, http.StatusOK, nil)
	var keys []*crucible.APIKey
	e.do(e.customer, "GET", api.PathKeys, nil, http.StatusOK, &keys)
	if len(keys) != 2 {
		t.Fatalf("alice has %d keys, want 2", len(keys))
	}
	if b := e.do(e.customer, "GET", api.PathKeys, nil, http.StatusOK, nil); strings.Contains(string(b), "hash") {
		t.Fatalf("key list shows hashes: %s", b)
	}
	e.do(e.other, "DELETE", api.PathKeys+"/"+ck.Key.ID, nil, http.StatusNotFound, nil) // bob cannot revoke alice's key
	e.do(e.customer, "DELETE", api.PathKeys+"/"+ck.Key.ID, nil, http.StatusOK, nil)
	body := e.do(ck.Secret, "GET", api.PathTasks, nil, http.StatusUnauthorized, nil)
	if !strings.Contains(string(body), "revoked") {
		t.Fatalf("revoked key: %s", body)
	}
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, nil)

	// Customers do not create accounts or list everyone's tasks.
	e.do(e.customer, "POST", api.PathKeys, api.CreateKeyRequest{AccountName: "mallory"}, http.StatusForbidden, nil)
	e.do(e.customer, "GET", api.PathTasks+"?all=1", nil, http.StatusForbidden, nil)
	e.do(e.admin, "GET", api.PathTasks+"?all=1", nil, http.StatusOK, nil)

	// Bootstrap runs once.
	if _, created, err := Bootstrap(context.Background(), e.b); err != nil || created {
		t.Fatalf("second bootstrap: created %v, %v", created, err)
	}
}

func TestVisibility(t *testing.T) {
	e := newEnv(t, Options{})
	private := e.createTask(e.customer, true)
	public := e.createTask(e.customer, false)
	for _, sub := range []string{"", api.TaskResultsPath, api.TaskEventsPath, api.TaskDownloadPath} {
		e.do(e.other, "GET", api.PathTasks+"/"+private.ID+sub, nil, http.StatusNotFound, nil)
		e.do(e.customer, "GET", api.PathTasks+"/"+private.ID+sub, nil, map[bool]int{true: 409, false: 200}[sub == api.TaskDownloadPath], nil)
		e.do(e.admin, "GET", api.PathTasks+"/"+private.ID+sub, nil, map[bool]int{true: 409, false: 200}[sub == api.TaskDownloadPath], nil)
	}
	e.do(e.other, "POST", api.PathTasks+"/"+private.ID+api.TaskCancelPath, nil, http.StatusNotFound, nil)
	e.do(e.other, "GET", api.PathTasks+"/"+public.ID, nil, http.StatusOK, nil)
	e.do(e.other, "POST", api.PathTasks+"/"+public.ID+api.TaskCancelPath, nil, http.StatusForbidden, nil)
	var list api.TaskList
	e.do(e.other, "GET", api.PathTasks, nil, http.StatusOK, &list)
	if list.Total != 0 {
		t.Fatalf("bob lists %d tasks", list.Total)
	}
	e.do(e.customer, "GET", api.PathTasks+"/nope", nil, http.StatusNotFound, nil)
}

func TestRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, Options{RatePerMinute: 30, Burst: 3, Now: clock})
	for range 3 { // alice's burst
		e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, nil)
	}
	resp := e.raw(e.customer, "GET", api.PathTasks, nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(body), `"code":"rate_limited"`) {
		t.Fatalf("4th request: %s, Retry-After %q, %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// Another key has its own bucket.
	e.do(e.other, "GET", api.PathTasks, nil, http.StatusOK, nil)
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, nil)
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusTooManyRequests, nil)
}

func TestPerKeyRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := newEnv(t, Options{RatePerMinute: 600, Burst: 60, Now: clock})
	// A customer may give a key a lower rate, not a higher one.
	var slow api.CreatedKey
	e.do(e.customer, "POST", api.PathKeys, api.CreateKeyRequest{Name: "cron", RateLimit: 2}, http.StatusCreated, &slow)
	if slow.Key.RateLimit != 2 {
		t.Fatalf("created key %+v", slow.Key)
	}
	e.do(e.customer, "POST", api.PathKeys, api.CreateKeyRequest{RateLimit: 10_000}, http.StatusForbidden, nil)
	e.do(e.customer, "POST", api.PathKeys, api.CreateKeyRequest{RateLimit: -1}, http.StatusBadRequest, nil)
	var fast api.CreatedKey
	e.do(e.admin, "POST", api.PathKeys, api.CreateKeyRequest{AccountName: "bulk", RateLimit: 10_000}, http.StatusCreated, &fast)
	// The slow key holds 2 tokens and refills one every 30 s.
	e.do(slow.Secret, "GET", api.PathTasks, nil, http.StatusOK, nil)
	e.do(slow.Secret, "GET", api.PathTasks, nil, http.StatusOK, nil)
	resp := e.raw(slow.Secret, "GET", api.PathTasks, nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "30" || !strings.Contains(string(body), "2 requests a minute") {
		t.Fatalf("3rd request on a 2/min key: %s, Retry-After %q, %s", resp.Status, resp.Header.Get("Retry-After"), body)
	}
	// The account's default-rate key is unaffected; the fast key takes its burst.
	e.do(e.customer, "GET", api.PathTasks, nil, http.StatusOK, nil)
	for range 60 {
		e.do(fast.Secret, "GET", api.PathTasks, nil, http.StatusOK, nil)
	}
	mu.Lock()
	now = now.Add(30 * time.Second)
	mu.Unlock()
	e.do(slow.Secret, "GET", api.PathTasks, nil, http.StatusOK, nil)
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	var spec struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	must(t, json.Unmarshal(openAPISpec, &spec))
	if !strings.HasPrefix(spec.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", spec.OpenAPI)
	}
	routes := map[string]bool{}
	for _, r := range (&Server{}).apiRoutes() {
		op := strings.ToLower(r.method)
		routes[op+" "+r.pattern] = true
		if _, ok := spec.Paths[r.pattern][op]; !ok {
			t.Errorf("route %s %s is not in the OpenAPI document", r.method, r.pattern)
		}
	}
	for path, ops := range spec.Paths {
		for op := range ops {
			if !routes[op+" "+path] {
				t.Errorf("the OpenAPI document has %s %s, which is not a route", op, path)
			}
		}
	}
}

func containsAll(have []string, want ...string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		must(t, err)
		names = append(names, h.Name)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
