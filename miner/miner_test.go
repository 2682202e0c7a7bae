package miner_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/protocol"
)

// fakeValidator is a real HTTP server playing the validator's side: it serves
// a base model archive and a train split and receives uploads.
type fakeValidator struct {
	srv      *httptest.Server
	model    []byte
	mu       sync.Mutex
	uploads  map[string][]byte
	uploaded chan string
	// refuse, when set, is the status every upload gets (and attempts
	// counts them).
	refuse   atomic.Int32
	attempts atomic.Int32
}

func newFakeValidator(t *testing.T) *fakeValidator {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures":["LlamaForCausalLM"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), []byte("base weights"), 0o644)
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	v := &fakeValidator{model: buf.Bytes(), uploads: map[string][]byte{}, uploaded: make(chan string, 10)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /model", func(w http.ResponseWriter, r *http.Request) { w.Write(v.model) })
	mux.HandleFunc("GET /data", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"instruction":"2+2?","output":"4"}`+"\n")
	})
	mux.HandleFunc("GET /tokens", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "token file bytes") })
	mux.HandleFunc("PUT /upload/{name}", func(w http.ResponseWriter, r *http.Request) {
		v.attempts.Add(1)
		if code := v.refuse.Load(); code != 0 {
			api.WriteError(w, &crucible.Error{Code: api.ErrorCode(int(code)), Message: "refused by the test"})
			return
		}
		b, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(b)
		v.mu.Lock()
		v.uploads[r.PathValue("name")] = b
		v.mu.Unlock()
		api.WriteJSON(w, 200, api.UploadResponse{ExpectedName: r.PathValue("name"), Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
		v.uploaded <- r.PathValue("name")
	})
	v.srv = httptest.NewServer(mux)
	t.Cleanup(v.srv.Close)
	return v
}

func (v *fakeValidator) request(id string, deadline time.Time) api.TrainRequest {
	return api.TrainRequest{
		TaskID: id, TaskType: crucible.TaskInstruct, Model: "tiny", ModelURL: v.srv.URL + "/model",
		DatasetURL: v.srv.URL + "/data", UploadURL: v.srv.URL + "/upload/" + id + "-result",
		Mapping: &crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}, HoursToComplete: 0.01,
		Deadline: deadline, ExpectedName: id + "-result",
	}
}

// script writes an executable shell script implementing the command contract.
func script(t *testing.T, body string) []string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "train.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nset -e\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{p}
}

const goodTrainer = `
test -f "$CRUCIBLE_MODEL_DIR/config.json"
grep -q instruction "$CRUCIBLE_DATA"
echo "$CRUCIBLE_MAPPING" | grep -q field_instruction
test "$CRUCIBLE_TASK_TYPE" = instruct
cp "$CRUCIBLE_MODEL_DIR/config.json" "$CRUCIBLE_OUT_DIR/"
echo "tuned weights for $CRUCIBLE_TASK_ID" > "$CRUCIBLE_OUT_DIR/model.safetensors"
echo 'CRUCIBLE_PROGRESS {"fraction":0.5,"step":3,"loss":1.25}'
echo "a log line"
`

func newMiner(t *testing.T, argv []string, mutate func(*miner.Config)) (*miner.Miner, context.CancelFunc) {
	t.Helper()
	cfg := miner.DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.Strategy = "command"
	cfg.Command = argv
	cfg.UploadMargin = 0
	if mutate != nil {
		mutate(&cfg)
	}
	m, err := miner.New(cfg, &miner.CommandStrategy{Argv: argv, GracePeriod: 100 * time.Millisecond}, protocol.HTTPValidators(http.DefaultClient, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m, cancel
}

func waitState(t *testing.T, m *miner.Miner, id string, states ...string) api.MinerTaskStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := m.TaskStatus(context.Background(), "", id)
		if err == nil {
			for _, s := range states {
				if st.State == s {
					return st
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	st, _ := m.TaskStatus(context.Background(), "", id)
	t.Fatalf("task %s never reached %v; last status %+v", id, states, st)
	return st
}

func TestTrainAndUpload(t *testing.T) {
	v := newFakeValidator(t)
	m, _ := newMiner(t, script(t, goodTrainer), nil)
	offer := api.TaskOffer{TaskID: "t1", TaskType: crucible.TaskInstruct, ModelParamsCount: 1e6, HoursToComplete: 0.01}
	if r, _ := m.Offer(context.Background(), "", offer); !r.Accepted {
		t.Fatalf("offer refused: %s", r.Message)
	}
	if err := start(m, v.request("t1", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, m, "t1", api.JobDone, api.JobFailed)
	if st.State != api.JobDone {
		t.Fatalf("failed: %s", st.Message)
	}
	if st.Step != 3 || st.TrainLoss == nil || *st.TrainLoss != 1.25 {
		t.Errorf("progress not reported: %+v", st)
	}
	// The upload is a tar of exactly what the strategy wrote.
	dst := t.TempDir()
	v.mu.Lock()
	body := v.uploads["t1-result"]
	v.mu.Unlock()
	if _, err := api.ExtractTar(bytes.NewReader(body), dst, api.ExtractLimits{}); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dst, "model.safetensors"))
	if string(got) != "tuned weights for t1\n" {
		t.Errorf("uploaded weights %q", got)
	}
	if !strings.Contains(st.Message, "sha256") {
		t.Errorf("status does not carry the receipt: %q", st.Message)
	}
}

func TestOfferPolicy(t *testing.T) {
	m, _ := newMiner(t, script(t, goodTrainer), func(c *miner.Config) {
		c.MaxJobs, c.MaxQueued, c.MaxParams, c.TaskTypes = 1, 0, 1e9, []string{"instruct", "dpo"}
	})
	base := api.TaskOffer{TaskID: "a", TaskType: crucible.TaskInstruct, ModelParamsCount: 1e6, HoursToComplete: 1}
	for _, c := range []struct {
		name   string
		mutate func(*api.TaskOffer)
		want   string
	}{
		{"type", func(o *api.TaskOffer) { o.TaskType = crucible.TaskChat }, "does not train chat"},
		{"size", func(o *api.TaskOffer) { o.ModelParamsCount = 7e9 }, "parameters"},
		{"too long", func(o *api.TaskOffer) { o.HoursToComplete = 48 }, "outside"},
		{"too short", func(o *api.TaskOffer) { o.HoursToComplete = 0.001 }, "outside"},
		{"no id", func(o *api.TaskOffer) { o.TaskID = "" }, "task_id"},
	} {
		o := base
		c.mutate(&o)
		if r, _ := m.Offer(context.Background(), "", o); r.Accepted || !strings.Contains(r.Message, c.want) {
			t.Errorf("%s: %+v", c.name, r)
		}
	}
	if r, _ := m.Offer(context.Background(), "", base); !r.Accepted {
		t.Fatalf("good offer refused: %s", r.Message)
	}
	// The one slot is reserved by task a: another task is refused, a again is fine.
	other := base
	other.TaskID = "b"
	if r, _ := m.Offer(context.Background(), "", other); r.Accepted || !strings.Contains(r.Message, "capacity") {
		t.Errorf("capacity not enforced: %+v", r)
	}
	if r, _ := m.Offer(context.Background(), "", base); !r.Accepted {
		t.Errorf("repeat offer for the reserved task refused: %s", r.Message)
	}
}

func TestStartValidation(t *testing.T) {
	v := newFakeValidator(t)
	m, _ := newMiner(t, script(t, goodTrainer), nil)
	good := v.request("s1", time.Now().Add(time.Minute))
	for _, c := range []struct {
		name   string
		mutate func(*api.TrainRequest)
	}{
		{"past deadline", func(r *api.TrainRequest) { r.Deadline = time.Now().Add(-time.Second) }},
		{"no upload url", func(r *api.TrainRequest) { r.UploadURL = "" }},
		{"path in name", func(r *api.TrainRequest) { r.ExpectedName = "../x" }},
		{"bad type", func(r *api.TrainRequest) { r.TaskType = "poem" }},
	} {
		r := good
		c.mutate(&r)
		if err := start(m, r); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: got %v, want EINVALID", c.name, err)
		}
	}
	if err := start(m, good); err != nil {
		t.Fatal(err)
	}
	if err := start(m, good); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("second start: %v", err)
	}
	if _, err := m.TaskStatus(context.Background(), "", "nope"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("unknown task status: %v", err)
	}
	waitState(t, m, "s1", api.JobDone, api.JobFailed)
}

func TestStrategyFailures(t *testing.T) {
	v := newFakeValidator(t)
	for _, c := range []struct {
		name, body string
		budget     time.Duration
		want       string
	}{
		{"exit status", "echo boom >&2; exit 3", time.Minute, "exit status 3"},
		{"no result", "true", time.Minute, "no usable result"},
		{"too slow", "exec sleep 30", 500 * time.Millisecond, "time limit"},
		// The trainer's last lines are the reason: what crashed, or what ran
		// out of memory.
		{"last lines", "echo 'loading the model' >&2; echo 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB' >&2; exit 3",
			time.Minute, "exit status 3:\nloading the model\nRuntimeError: CUDA out of memory"},
		{"late, last lines", "echo 'step 1' >&2; echo 'step 2' >&2; exec sleep 30", 700 * time.Millisecond, "deadline exceeded:\nstep 1\nstep 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newMiner(t, script(t, c.body), nil)
			if err := start(m, v.request("f", time.Now().Add(c.budget))); err != nil {
				t.Fatal(err)
			}
			st := waitState(t, m, "f", api.JobFailed, api.JobDone)
			if st.State != api.JobFailed || !strings.Contains(st.Message, c.want) {
				t.Errorf("got %s %q, want failure mentioning %q", st.State, st.Message, c.want)
			}
		})
	}
}

// A strategy that writes a complete result and then overruns is stopped at
// the upload margin and its result still goes out before the deadline.
func TestOverrunKeepsCompleteResult(t *testing.T) {
	v := newFakeValidator(t)
	body := goodTrainer + "\nexec sleep 30\n"
	m, _ := newMiner(t, script(t, body), func(c *miner.Config) { c.UploadMargin = 2 * time.Second })
	if err := start(m, v.request("o", time.Now().Add(5*time.Second))); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, m, "o", api.JobFailed, api.JobDone); st.State != api.JobDone {
		t.Fatalf("complete result discarded: %s", st.Message)
	}
}

func TestHandler(t *testing.T) {
	m, _ := newMiner(t, script(t, goodTrainer), nil)
	srv := httptest.NewServer(protocol.MinerHandler(m, func(*http.Request) string { return "" }))
	defer srv.Close()
	resp, err := http.Post(srv.URL+api.PathTaskOffer, "application/json", strings.NewReader(`{"task_id":"h","task_type":"instruct","model":"m","model_params_count":10,"ds_size":5,"hours_to_complete":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var or api.OfferResponse
	api.DecodeJSON(resp.Body, 1<<20, &or)
	resp.Body.Close()
	if !or.Accepted {
		t.Errorf("offer over HTTP refused: %+v", or)
	}
	resp, _ = http.Post(srv.URL+api.PathTaskOffer, "application/json", strings.NewReader(`{"task_id":`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed offer: status %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Get(srv.URL + api.PathTaskStatus + "unknown")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown status: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

// start starts a job as an unsigned caller.
func start(m *miner.Miner, req api.TrainRequest) error {
	_, err := m.StartTraining(context.Background(), "", req)
	return err
}

// A train request with a token file's link hands the trainer the
// downloaded file in CRUCIBLE_TOKENS; without one the variable is unset.
func TestTokensReachTheTrainer(t *testing.T) {
	v := newFakeValidator(t)
	body := `test "$(cat "$CRUCIBLE_TOKENS")" = "token file bytes"
` + goodTrainer
	m, _ := newMiner(t, script(t, body), nil)
	req := v.request("tk", time.Now().Add(time.Minute))
	req.TokensURL = v.srv.URL + "/tokens"
	if err := start(m, req); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, m, "tk", api.JobDone, api.JobFailed); st.State != api.JobDone {
		t.Fatalf("trainer did not get the token file: %s", st.Message)
	}
	m2, _ := newMiner(t, script(t, `test -z "${CRUCIBLE_TOKENS+set}"
`+goodTrainer), nil)
	if err := start(m2, v.request("nt", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, m2, "nt", api.JobDone, api.JobFailed); st.State != api.JobDone {
		t.Fatalf("CRUCIBLE_TOKENS set without a token file: %s", st.Message)
	}
	// A token link that fails fails the job before training.
	req = v.request("bad", time.Now().Add(time.Minute))
	req.TokensURL = v.srv.URL + "/missing"
	if err := start(m, req); err != nil {
		t.Fatal(err)
	}
	if st := waitState(t, m, "bad", api.JobDone, api.JobFailed); st.State != api.JobFailed || !strings.Contains(st.Message, "token file") {
		t.Fatalf("broken token link: %s %q", st.State, st.Message)
	}
}
