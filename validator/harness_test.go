package validator_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// dirBlobs is a directory-backed blob store for the lifecycle tests.
type dirBlobs struct{ dir string }

func (b dirBlobs) Put(_ context.Context, key string, r io.Reader) (int64, string, error) {
	p := filepath.Join(b.dir, filepath.FromSlash(key))
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func (b dirBlobs) Sum(_ context.Context, key string) (int64, string, error) {
	f, err := os.Open(filepath.Join(b.dir, filepath.FromSlash(key)))
	if os.IsNotExist(err) {
		return 0, "", crucible.Errorf(crucible.ENOTFOUND, "blob %s not found", key)
	}
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

func (b dirBlobs) Get(_ context.Context, key string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(b.dir, filepath.FromSlash(key)))
	if os.IsNotExist(err) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "blob %s not found", key)
	}
	return f, err
}

type dirModels map[string]string

func (m dirModels) ResolveModel(_ context.Context, name string) (string, error) {
	if d, ok := m[name]; ok {
		return d, nil
	}
	return "", crucible.Errorf(crucible.ENOTFOUND, "model %q not found", name)
}

// linesPreparer splits a JSONL file of {"instruction","output"} rows: every
// tenth row goes to the test split.
type linesPreparer struct{ rows int }

func (p linesPreparer) Prepare(_ context.Context, t *crucible.Task, dir string, _ *crucible.Honeypot) (*validator.Prepared, error) {
	if strings.Contains(t.Dataset, "broken") {
		return nil, crucible.Errorf(crucible.EINVALID, "%s:3: output: expected a string, got a number", t.Dataset)
	}
	train, _ := os.Create(filepath.Join(dir, "train.jsonl"))
	test, _ := os.Create(filepath.Join(dir, "test.jsonl"))
	defer train.Close()
	defer test.Close()
	var ntrain, ntest int
	for i := 0; i < p.rows; i++ {
		line := fmt.Sprintf(`{"instruction":"q%d","output":"a%d"}`+"\n", i, i)
		if i%10 == 0 {
			test.WriteString(line)
			ntest++
		} else {
			train.WriteString(line)
			ntrain++
		}
	}
	m := crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}
	return &validator.Prepared{TrainPath: train.Name(), TestPath: test.Name(), TrainRows: ntrain, TestRows: ntest,
		Mapping: m, SourceMapping: m, ModelParams: 1000, Reason: "test data"}, nil
}

// lossEvaluator reads the loss a test trainer wrote into its result: it
// stands in for the ML evaluator in lifecycle tests, and checks the result's
// architecture against the base like the real one.
type lossEvaluator struct {
	mu      sync.Mutex
	calls   int
	block   chan struct{} // when set, the second call waits on it (to kill the validator mid-evaluation)
	entered chan struct{}
}

func (e *lossEvaluator) Evaluate(ctx context.Context, req validator.EvalRequest) (*validator.EvalResult, error) {
	e.mu.Lock()
	e.calls++
	n := e.calls
	e.mu.Unlock()
	if e.block != nil && n == 2 {
		close(e.entered)
		select {
		case <-e.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if req.ModelDir == "" {
		return &validator.EvalResult{Loss: 2.5, Samples: 1}, nil
	}
	base, _ := os.ReadFile(filepath.Join(req.BaseDir, "config.json"))
	cfg, err := os.ReadFile(filepath.Join(req.ModelDir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read config.json: %w", err)
	}
	if string(cfg) != string(base) {
		return &validator.EvalResult{Failure: "architecture differs from the base model"}, nil
	}
	b, err := os.ReadFile(filepath.Join(req.ModelDir, "model.safetensors"))
	if err != nil {
		return nil, err
	}
	loss, err := strconv.ParseFloat(strings.TrimSpace(string(b)), 64)
	if err != nil {
		return nil, fmt.Errorf("weights unreadable: %w", err)
	}
	return &validator.EvalResult{Loss: loss, Samples: 1}, nil
}

type network struct {
	wake    chan struct{}
	t       *testing.T
	store   *sqlstore.Store
	deps    validator.Deps
	cfg     validator.Config
	v       *validator.Validator
	srv     *httptest.Server
	handler http.Handler
	eval    *lossEvaluator
	models  dirModels
	nodes   []*crucible.Node
}

// hotkeyHeader identifies the calling miner in these unsigned tests; in a
// real network the sign middleware supplies the verified hotkey.
const hotkeyHeader = "X-Test-Hotkey"

type asMiner struct{ hotkey string }

func (a asMiner) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(hotkeyHeader, a.hotkey)
	return http.DefaultTransport.RoundTrip(r)
}

func newNetwork(t *testing.T, dbPath string, mutate func(*validator.Config)) *network {
	t.Helper()
	ctx := context.Background()
	if dbPath == "" {
		dbPath = filepath.Join(t.TempDir(), "validator.db")
	}
	store, err := sqlstore.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "config.json"), []byte(`{"architectures":["LlamaForCausalLM"]}`), 0o644)
	os.WriteFile(filepath.Join(base, "model.safetensors"), []byte("2.5"), 0o644)
	n := &network{t: t, store: store, eval: &lossEvaluator{}, models: dirModels{"tiny": base}, wake: make(chan struct{}, 1)}
	n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.handler.ServeHTTP(w, r) }))
	t.Cleanup(n.srv.Close)
	n.cfg = validator.DefaultConfig()
	n.cfg.PublicURL = n.srv.URL
	n.cfg.OfferTimeout = 10 * time.Second // generous: the race detector and a busy machine slow miners down
	n.cfg.DelayFor = 10 * time.Millisecond
	n.cfg.MaxDelays = 1
	if mutate != nil {
		mutate(&n.cfg)
	}
	n.deps = validator.Deps{Store: store, Blobs: dirBlobs{filepath.Join(filepath.Dir(dbPath), "blobs")}, Models: n.models,
		Preparer: linesPreparer{rows: 40}, Evaluator: n.eval, Links: linkSigner(t), Signer: validatorKey(t),
		Kick: func(string) {
			select {
			case n.wake <- struct{}{}:
			default:
			}
		}}
	if os.Getenv("CRUCIBLE_TEST_LOG") != "" {
		n.deps.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	n.restart()
	return n
}

// restart builds a fresh Validator on the same store, as a restarted process would.
func (n *network) restart() {
	v, err := validator.New(n.cfg, n.deps)
	if err != nil {
		n.t.Fatal(err)
	}
	n.v = v
	n.handler = protocol.ValidatorHandler(v, func(r *http.Request) string { return r.Header.Get(hotkeyHeader) })
}

// addMiner starts a real miner whose command strategy runs script.
func (n *network) addMiner(hotkey, script string) {
	n.addServer(hotkey, n.newMiner(hotkey, script))
}

// newMiner runs a real miner whose command strategy runs script until the
// test ends.
func (n *network) newMiner(hotkey, script string) *miner.Miner {
	t := n.t
	p := filepath.Join(t.TempDir(), "train.sh")
	os.WriteFile(p, []byte("#!/bin/sh\nset -e\n"+script), 0o755)
	cfg := miner.DefaultConfig()
	cfg.WorkDir = t.TempDir()
	cfg.UploadMargin = 0
	cfg.MinHours = 0
	m, err := miner.New(cfg, &miner.CommandStrategy{Argv: []string{p}}, protocol.HTTPValidators(&http.Client{Transport: asMiner{hotkey}}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// addServer serves a miner's endpoints for hotkey and registers the node.
func (n *network) addServer(hotkey string, m protocol.MinerServer) *httptest.Server {
	t := n.t
	srv := httptest.NewServer(protocol.MinerHandler(m, func(*http.Request) string { return "" }))
	t.Cleanup(srv.Close)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	pn, _ := strconv.Atoi(port)
	n.nodes = append(n.nodes, &crucible.Node{UID: len(n.nodes) + 1, Hotkey: hotkey, Coldkey: "cold-" + hotkey, IP: host, Port: pn, Stake: 1})
	if err := n.store.UpsertNodes(context.Background(), n.nodes); err != nil {
		t.Fatal(err)
	}
	return srv
}

// trainer writes a result whose "weights" are the loss the test evaluator reports.
func trainer(loss string) string {
	return `cp "$CRUCIBLE_MODEL_DIR/config.json" "$CRUCIBLE_OUT_DIR/"
echo ` + loss + ` > "$CRUCIBLE_OUT_DIR/model.safetensors"
`
}

func (n *network) submit(dataset string, hours float64) *crucible.Task {
	n.t.Helper()
	task := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: dataset, HoursToComplete: hours, IsOrganic: true}
	if err := n.v.CheckTask(context.Background(), task); err != nil {
		n.t.Fatal(err)
	}
	if err := n.store.CreateTask(context.Background(), task); err != nil {
		n.t.Fatal(err)
	}
	return task
}

// run drives the task to its end, polling its status, within a deadline.
func (n *network) run(id string) *crucible.Task {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The node's driver looks at a running task at least every --poll,
	// uploads or not; so does this one (often: its tasks last seconds), so
	// that what a miner says only when asked, such as a crash, is seen
	// before the deadline.
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				select {
				case n.wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	if err := n.v.Run(ctx, id, n.wake); err != nil {
		n.t.Fatalf("run: %v", err)
	}
	task, err := n.store.FindTask(context.Background(), id)
	if err != nil {
		n.t.Fatal(err)
	}
	return task
}

func (n *network) subs(id string) map[string]*crucible.Submission {
	n.t.Helper()
	subs, err := n.store.FindSubmissions(context.Background(), id)
	if err != nil {
		n.t.Fatal(err)
	}
	out := map[string]*crucible.Submission{}
	for _, s := range subs {
		out[s.Hotkey] = s
	}
	return out
}

// toTraining steps a task until miners are training it and every started
// miner has uploaded.
func (n *network) toTraining(id string) *crucible.Task {
	n.t.Helper()
	ctx := context.Background()
	task, _ := n.store.FindTask(ctx, id)
	for task.Status != crucible.StatusTraining {
		if _, err := n.v.Step(ctx, id); err != nil {
			n.t.Fatal(err)
		}
		task, _ = n.store.FindTask(ctx, id)
	}
	return task
}

// waitUploads waits until every miner with a submission has uploaded.
func (n *network) waitUploads(id string) {
	n.t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a loaded machine under the race detector is slow

	for time.Now().Before(deadline) {
		done := true
		for _, s := range n.subs(id) {
			if s.UploadedAt == nil {
				done = false
			}
		}
		if done {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	n.t.Fatal("miners did not upload in time")
}

func validatorKey(t *testing.T) *sign.Keypair {
	k, err := sign.FromURI("//Validator")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// linkSigner signs the validator's download links.
func linkSigner(t *testing.T) *blob.Signer {
	s, err := blob.NewSigner([]byte("test link key, 32 bytes long...."))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
