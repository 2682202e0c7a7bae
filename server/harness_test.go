package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/server/uploads"
	"github.com/crucible-net/crucible/sqlstore"
)

// testBackend implements Backend over a real SQLite store in a temporary
// directory. Submit only stores the task: tests drive its life through the
// store (see simulate), as the validator would.
type testBackend struct {
	*sqlstore.Store
	uploads      *uploads.Store
	artifacts    string           // blob directory
	cache        *hub.Cache       // the Hugging Face cache customers pick datasets from
	params       map[string]int64 // model → parameters
	allowPrivate bool             // webhooks may target loopback (a local receiver)
}

func newTestBackend(t *testing.T) *testBackend {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "crucible.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	up, err := uploads.New(filepath.Join(dir, "uploads"))
	if err != nil {
		t.Fatal(err)
	}
	// A hub cache holding one dataset, crucible/tiny-instruct.
	cache := &hub.Cache{Dir: filepath.Join(dir, "hub")}
	repo := cache.RepoDir(hub.Dataset, "crucible/tiny-instruct")
	commit := strings.Repeat("ab", 20)
	must(t, os.MkdirAll(filepath.Join(repo, "snapshots", commit), 0o755))
	must(t, os.MkdirAll(filepath.Join(repo, "refs"), 0o755))
	must(t, os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644))
	rows, err := os.ReadFile("testdata/instruct.jsonl")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(repo, "snapshots", commit, "train.jsonl"), rows, 0o644))
	return &testBackend{Store: st, uploads: up, artifacts: filepath.Join(dir, "blobs"), cache: cache,
		params: map[string]int64{"tiny-llama": 4_200_000, "tiny-gpt2": 2_100_000}}
}

func (b *testBackend) Submit(ctx context.Context, t *crucible.Task) error {
	return b.CreateTask(ctx, t)
}

func (b *testBackend) Cancel(ctx context.Context, t *crucible.Task) error {
	t.Status, t.Failure = crucible.StatusCancelled, "cancelled by the customer"
	now := time.Now()
	t.CompletedAt = &now
	return b.UpdateTask(ctx, t)
}

func (b *testBackend) BaseLoss(ctx context.Context, taskID string) (*float64, error) {
	e, err := b.FindEvaluation(ctx, taskID)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.BaseLoss, nil
}

func (b *testBackend) OpenArtifact(ctx context.Context, key string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(b.artifacts, filepath.FromSlash(key)))
	if os.IsNotExist(err) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no artifact %s", key)
	}
	return f, err
}

func (b *testBackend) Estimate(ctx context.Context, req api.CreateTaskRequest) (*api.Estimate, error) {
	params, ok := b.params[req.Model]
	if !ok {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "model %s not found", req.Model)
	}
	path, err := uploads.Resolver{Uploads: b.uploads, Cache: b.cache}.Resolve(req.Dataset)
	if err != nil {
		return nil, err
	}
	est, err := uploads.EstimateData(path, req.Dataset, req, data.SplitOptions{})
	if err != nil {
		return nil, err
	}
	est.ModelParams = params
	est.DatasetName = b.uploads.DisplayName(req.Dataset)
	est.Hours = math.Max(3, float64(est.TrainRows)/500) / 60
	if req.Hours > 0 {
		est.Hours = req.Hours
	}
	est.ETA = time.Duration(est.Hours*float64(time.Hour)) + 5*time.Minute
	est.Cost, est.CostUnit = est.Hours*float64(params)/1e9, "GPU-hour-billions"
	est.Price, est.Currency = math.Round(est.Hours*400)/100, "USD"
	nodes, _ := b.FindNodes(ctx)
	for _, n := range nodes {
		if !n.Validator {
			est.Miners++
		}
	}
	est.MinersFit = est.Miners
	return est, nil
}

// testBuiltins are the test backend's built-in rewards.
var testBuiltins = []api.RewardBuiltin{
	{Name: "numeric_answer", Doc: "1 when the last number is the answer", Range: "0 or 1", Args: map[string]string{"field": "the answer's column"}},
	{Name: "regex_match", Doc: "1 when the completion matches", Range: "0 or 1", Args: map[string]string{"pattern": "the expression"}},
}

func (b *testBackend) RewardBuiltins() []api.RewardBuiltin { return testBuiltins }

// CheckGRPO refuses a reward without code that is no built-in, as the
// validator's check does (which also runs each on the dataset's rows).
func (b *testBackend) CheckGRPO(ctx context.Context, t *crucible.Task) error {
	for _, r := range t.Rewards {
		if r.Code == "" && !slices.ContainsFunc(testBuiltins, func(x api.RewardBuiltin) bool { return x.Name == r.Name }) {
			return crucible.Errorf(crucible.EINVALID, "reward %s: no built-in reward of this name", r.Name)
		}
	}
	return nil
}

func (b *testBackend) SaveUpload(ctx context.Context, account, name string, r io.Reader) (*api.DatasetUpload, error) {
	return b.uploads.Save(ctx, account, name, r)
}

func (b *testBackend) FindUpload(ctx context.Context, account, id string) (*api.DatasetUpload, error) {
	return b.uploads.FindOwned(account, id)
}

func (b *testBackend) BeginUpload(ctx context.Context, account string, req api.BeginUpload, max int64) (*api.UploadSession, error) {
	return b.uploads.Begin(account, req, max)
}

func (b *testBackend) AppendUpload(ctx context.Context, account, id string, offset int64, r io.Reader) (*api.UploadSession, error) {
	return b.uploads.Append(ctx, account, id, offset, r)
}

func (b *testBackend) UploadSession(ctx context.Context, account, id string) (*api.UploadSession, error) {
	return b.uploads.Session(account, id)
}

func (b *testBackend) AbortUpload(ctx context.Context, account, id string) error {
	return b.uploads.Abort(account, id)
}

func (b *testBackend) Models() []string {
	var out []string
	for m := range b.params {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

func (b *testBackend) Datasets() []string { return []string{"crucible/tiny-instruct"} }

// env is a server on a test backend, with an admin and a customer key.
type env struct {
	t        *testing.T
	b        *testBackend
	srv      *Server
	ts       *httptest.Server
	admin    string // admin key secret
	customer string // a customer's key secret
	other    string // another customer's key secret
}

func newEnv(t *testing.T, opt Options) *env {
	t.Helper()
	return newEnvWith(t, opt, nil)
}

// newEnvWith is newEnv with the backend the server gets made by wrap (the
// test backend with more parts, say), when not nil.
func newEnvWith(t *testing.T, opt Options, wrap func(*testBackend) Backend) *env {
	t.Helper()
	b := newTestBackend(t)
	if opt.EventPoll == 0 {
		opt.EventPoll = 20 * time.Millisecond
	}
	var be Backend = b
	if wrap != nil {
		be = wrap(b)
	}
	srv := New(be, opt)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	e := &env{t: t, b: b, srv: srv, ts: ts}
	ctx := context.Background()
	secret, created, err := Bootstrap(ctx, b)
	if err != nil || !created {
		t.Fatalf("bootstrap: %v %v", created, err)
	}
	e.admin = secret
	e.customer = e.newAccount("alice")
	e.other = e.newAccount("bob")
	return e
}

// newAccount creates an account with a key through the API and returns the
// key's secret.
func (e *env) newAccount(name string) string {
	e.t.Helper()
	var ck api.CreatedKey
	e.do(e.admin, "POST", api.PathKeys, api.CreateKeyRequest{AccountName: name, Name: "main"}, http.StatusCreated, &ck)
	return ck.Secret
}

// do sends a JSON request with key, checks the status and decodes the
// answer into out (when not nil). It returns the response body.
func (e *env) do(key, method, path string, body any, want int, out any) []byte {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	resp := e.raw(key, method, path, rd, nil)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

func (e *env) raw(key, method, path string, body io.Reader, hdr http.Header) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// upload posts a testdata file as a dataset.
func (e *env) upload(key, file string, want int, out any) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		e.t.Fatal(err)
	}
	resp := e.raw(key, "POST", api.PathDatasets+"?name="+file, bytes.NewReader(b), nil)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("upload %s: status %d, want %d: %s", file, resp.StatusCode, want, body)
	}
	if out != nil {
		json.Unmarshal(body, out)
	}
	return body
}

// miners are the hotkeys of the simulated network.
var miners = []string{
	"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
	"5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y",
	"5DAAnrj7VHTznn2AWBemMuyBwZWs6FNFjdyVXUeYum3PTXFy",
}

// simulate drives a task through its whole life in the store, as the
// validator would: statuses, miners accepting, training progress with
// losses, uploads, evaluation, scores, weights and the winner's archive.
func (e *env) simulate(id string) {
	e.t.Helper()
	ctx := context.Background()
	b := e.b
	nodes := []*crucible.Node{{UID: 0, Hotkey: "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", Validator: true}}
	for i, h := range miners {
		nodes = append(nodes, &crucible.Node{UID: i + 1, Hotkey: h})
	}
	must(e.t, b.UpsertNodes(ctx, nodes))
	move := func(to crucible.TaskStatus, mutate func(*crucible.Task)) {
		e.t.Helper()
		t, err := b.FindTask(ctx, id)
		must(e.t, err)
		t.Status = to
		if mutate != nil {
			mutate(t)
		}
		must(e.t, b.UpdateTask(ctx, t))
	}
	event := func(hotkey, msg string, d map[string]any) {
		e.t.Helper()
		must(e.t, b.AppendEvent(ctx, &crucible.TaskEvent{TaskID: id, Kind: crucible.EventProgress, Hotkey: hotkey, Message: msg, Data: d}))
	}
	move(crucible.StatusPreparingData, nil)
	move(crucible.StatusLookingForNodes, func(t *crucible.Task) { t.TrainRows, t.TestRows = 54, 6 })
	for _, h := range miners {
		must(e.t, b.CreateSubmission(ctx, &crucible.Submission{TaskID: id, Hotkey: h, ExpectedName: "r-" + h[:6]}))
		event(h, "accepted the task", nil)
	}
	move(crucible.StatusReady, nil)
	now := time.Now()
	move(crucible.StatusTraining, func(t *crucible.Task) { t.StartedAt = &now })
	for step := 1; step <= 8; step++ {
		for i, h := range miners {
			loss := 2.4*math.Exp(-float64(step)*0.18*float64(i+1)) + 0.3
			event(h, fmt.Sprintf("step %d", step), map[string]any{"step": step * 10, "train_loss": loss})
		}
	}
	losses := []float64{1.62, 1.18, 1.35}
	for i, h := range miners {
		s, err := b.FindSubmission(ctx, id, h)
		must(e.t, err)
		up := time.Now()
		s.UploadedAt, s.ResultKey, s.ResultSHA256 = &up, "tasks/"+id+"/results/"+h, fmt.Sprintf("%064x", i+1)
		must(e.t, b.UpdateSubmission(ctx, s))
		event(h, "result uploaded", map[string]any{"size": 1024})
	}
	move(crucible.StatusPreevaluation, nil)
	move(crucible.StatusEvaluating, nil)
	baseLoss := 1.95
	must(e.t, b.SaveEvaluation(ctx, &crucible.Evaluation{TaskID: id, BaseLoss: &baseLoss}))
	var scores []*crucible.Score
	for i, h := range miners {
		s, err := b.FindSubmission(ctx, id, h)
		must(e.t, err)
		l := losses[i]
		q := []float64{0, 3, 0}[i]
		s.TestLoss, s.QualityScore = &l, &q
		s.Reason = map[bool]string{true: "lowest test loss", false: "not the best"}[i == 1]
		must(e.t, b.UpdateSubmission(ctx, s))
		event(h, fmt.Sprintf("test loss %.4f", l), map[string]any{"test_loss": l})
		ll := l
		scores = append(scores, &crucible.Score{TaskID: id, Hotkey: h, TaskType: crucible.TaskInstruct, QualityScore: q, TestLoss: &ll, SpecVersion: "test"})
	}
	must(e.t, b.AddScores(ctx, scores))
	must(e.t, b.AddWeights(ctx, &crucible.WeightsRecord{Weights: map[string]float64{miners[0]: 0.2, miners[1]: 0.7, miners[2]: 0.1}}))
	key := "tasks/" + id + "/results/" + miners[1] + ".tar"
	e.writeArchive(key)
	move(crucible.StatusSuccess, func(t *crucible.Task) {
		c := time.Now()
		t.Winner, t.ResultModel, t.CompletedAt = miners[1], key, &c
	})
}

// writeArchive stores a small model directory as a tar under key.
func (e *env) writeArchive(key string) {
	e.t.Helper()
	dir := e.t.TempDir()
	must(e.t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type":"llama"}`), 0o644))
	must(e.t, os.WriteFile(filepath.Join(dir, "model.safetensors"), bytes.Repeat([]byte{7}, 4096), 0o644))
	path := filepath.Join(e.b.artifacts, filepath.FromSlash(key))
	must(e.t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	must(e.t, err)
	must(e.t, api.WriteTar(f, dir))
	must(e.t, f.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func contains(s string, subs ...string) error {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return fmt.Errorf("missing %q", sub)
		}
	}
	return nil
}
