package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/data/hub/hubtest"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/node/localnet"
)

// example is one line of a command's --help examples.
type example struct {
	cmd  string // the command it belongs to
	line string
}

// helpExamples returns every example line of every command's help.
func helpExamples() []example {
	var out []example
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, l := range strings.Split(c.Example, "\n") {
			l = strings.TrimSpace(l)
			if strings.Contains(l, "crucible ") && !strings.HasPrefix(l, "{") && !strings.HasPrefix(l, "\"") {
				out = append(out, example{c.CommandPath(), l})
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
	return out
}

// ready marks output that shows a long-running example (a daemon, a
// training run, a watched task) doing its work: such an example is stopped
// once it shows it.
var ready = regexp.MustCompile(`listening on|serving |chain: serving|ETA|step \d|tokeniz|training |status |uploaded |leaderboard|MB/s|\d+%`)

// TestHelpExamplesRun runs every example of every command's --help, as a
// user would type it, in a directory holding the files it names, against a
// real validator (with a miner and a finished task), a local chain and a
// local model hub. An example passes when it exits 0, or, for daemons and
// long runs, when it is still working (it printed a sign of progress or
// ran for its time slot without failing) when it is stopped. Placeholders
// (TASK, KEY_ID, 3f2a, hf_..., the chain's and validator's addresses) are
// replaced with the real values; the Postgres and S3 example needs CI's
// services and is skipped without them.
func TestHelpExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a network")
	}
	env := newExampleEnv(t)
	examples := helpExamples()
	if len(examples) < 30 {
		t.Fatalf("found only %d examples", len(examples))
	}
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i, ex := range examples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			env.run(t, i, ex)
		}()
	}
	wg.Wait()
}

// exampleEnv is what the examples run against.
type exampleEnv struct {
	bin, fixture string
	vars         []string          // the environment
	subst        map[string]string // placeholder → value
	postgres, s3 bool
}

func newExampleEnv(t *testing.T) *exampleEnv {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "crucible")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	e := &exampleEnv{bin: bin, fixture: filepath.Join(dir, "fixture"), subst: map[string]string{}}
	e.writeFixture(t)

	// A local hub holding what the data pull examples name.
	h := hubtest.New(t, "hf_examples_token")
	hc := &hub.Client{Endpoint: h.URL, Token: h.Token}
	tiny := filepath.Join(e.fixture, "models", "tiny")
	for _, repo := range []string{"HuggingFaceTB/SmolLM2-135M", "Qwen/Qwen3-0.6B"} {
		if _, err := hc.Push(context.Background(), hub.Model, repo, tiny, hub.PushOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ds := filepath.Join(dir, "alpaca")
	os.MkdirAll(ds, 0o755)
	copyFile(t, filepath.Join(e.fixture, "alpaca.jsonl"), filepath.Join(ds, "train.jsonl"))
	if _, err := hc.Push(context.Background(), hub.Dataset, "yahma/alpaca-cleaned", ds, hub.PushOptions{}); err != nil {
		t.Fatal(err)
	}

	// A chain, a validator on it whose tasks are short, a miner, and a
	// finished task.
	home := filepath.Join(dir, "homes")
	chainAddr := freeAddr(t)
	start(t, bin, "chain", "--listen", chainAddr, "--db", filepath.Join(dir, "chain.json"), "--block-time", "100ms")
	waitHTTP(t, "http://"+chainAddr+"/v1/metagraph")
	v := start(t, bin, "validator", "--listen", "127.0.0.1:0", "--chain", "http://"+chainAddr, "--home", filepath.Join(home, "validator"),
		"--assets", filepath.Join(e.fixture, "models"), "--default-hours", fmt.Sprint(8.0/3600), "--poll", "300ms", "--offer-timeout", "10s",
		"--delay-for", "1s", "--webhooks-allow-private")
	vurl := v.waitLine(t, regexp.MustCompile(`listening on (http://\S+)`), 60*time.Second)[1]
	admin := v.waitLine(t, regexp.MustCompile(`admin API key .*: (\S+)$`), 10*time.Second)[1]
	m := start(t, bin, "miner", "--listen", "127.0.0.1:0", "--chain", "http://"+chainAddr, "--home", filepath.Join(home, "miner"),
		"--strategy", "lora-fast", "--min-hours", "0", "--upload-margin", "2s", "--min-validator-stake", "0")
	m.waitLine(t, regexp.MustCompile(`listening on`), 60*time.Second)
	c := api.NewClient(vurl, admin)
	ctx := context.Background()
	f, _ := os.Open(filepath.Join(e.fixture, "facts.jsonl"))
	up, err := c.UploadDataset(ctx, "facts.jsonl", f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateTask(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: up.Ref(), Public: true})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		task, err := c.Task(ctx, created.Task.ID)
		if err == nil && task.Status.Terminal() {
			if task.Status != "success" {
				t.Fatalf("the fixture task ended %s: %s", task.Status, task.Failure)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fixture task did not finish; validator:\n%s", v.output())
		}
		time.Sleep(300 * time.Millisecond)
	}
	key, err := c.CreateKey(ctx, api.CreateKeyRequest{Name: "to revoke"})
	if err != nil {
		t.Fatal(err)
	}
	hook, err := c.CreateWebhook(ctx, "http://127.0.0.1:9/hook")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.fixture, "tournament.json"), []byte(`{"min_entrants": 2, "knockout_max": 14, "group_size": 32, "min_group_size": 20,
		"advance": 8, "group_tasks": 1, "pair_tasks": 1, "boss_tasks": 3, "hours": 0.01, "entry_window_ns": 600000000000,
		"pool": [{"type": "instruct", "model": "tiny", "dataset": "`+up.Ref()+`"}],
		"group_types": ["instruct"], "knockout_types": ["instruct"], "boss_types": ["instruct"]}`), 0o644)

	e.subst = map[string]string{
		"TASK": created.Task.ID, "3f2a": created.Task.ID[:6], "KEY_ID": key.Key.ID, "WEBHOOK_ID": hook.Webhook.ID,
		"crk_ADMIN…": admin, "hf_...": h.Token, "5F...": m.waitLineOrEmpty(), "127.0.0.1:9944": chainAddr,
		"0.0.0.0:8090": "127.0.0.1:0", "crucible-tiny --dataset": "tiny --dataset",
	}
	e.vars = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "CRUCIBLE_SERVER="+vurl, "CRUCIBLE_API_KEY="+admin,
		"HF_ENDPOINT="+h.URL, "CRUCIBLE_LISTEN=127.0.0.1:0", "NO_COLOR=1")
	if u := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); u != "" {
		e.postgres = true
		// The URL carries a query (search_path=…&sslmode=…) whose & would
		// end the command in bash: it goes in as one quoted word.
		e.subst["postgres://crucible@127.0.0.1/crucible"] = shellQuote(freshSchemaURL(t, u))
	}
	if u := os.Getenv("CRUCIBLE_TEST_S3_URL"); u != "" {
		e.s3 = true
		e.subst["s3://crucible-artifacts/validator-1"] = "s3://" + testBucket(t, u) + "/examples-" + fmt.Sprint(time.Now().UnixNano())
		e.vars = append(e.vars, "AWS_ENDPOINT_URL="+u, "AWS_ACCESS_KEY_ID="+os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"),
			"AWS_SECRET_ACCESS_KEY="+os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY"), "AWS_REGION=us-east-1")
	}
	// A tournament to show and watch, when announcing one works.
	out, err := exec.Command(bin, "tournaments", "announce", "--settings", filepath.Join(e.fixture, "tournament.json"), "--server", vurl, "--key", admin, "--json").CombinedOutput()
	var tour struct {
		ID string `json:"id"`
	}
	if err == nil && json.Unmarshal(out[strings.Index(string(out), "{"):], &tour) == nil && tour.ID != "" {
		e.subst["TOURNAMENT"] = tour.ID
	}
	return e
}

// freshSchemaURL creates a schema for the example's validator and returns
// base with its search_path set to it; the schema is dropped at the end.
func freshSchemaURL(t *testing.T, base string) string {
	schema := fmt.Sprintf("examples_%d", time.Now().UnixNano())
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("DROP SCHEMA " + schema + " CASCADE"); db.Close() })
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// testBucket creates a bucket of its own on CI's S3 server for the
// validator example (a validator refuses a bucket that does not exist, and
// the shared test bucket exists only once another package's test made it);
// it is emptied and removed at the end.
func testBucket(t *testing.T, endpoint string) string {
	ctx := context.Background()
	bucket := fmt.Sprintf("%s-examples-%d", os.Getenv("CRUCIBLE_TEST_S3_BUCKET"), time.Now().UnixNano())
	admin, err := blob.NewS3(ctx, blob.S3Config{Endpoint: endpoint, AccessKey: os.Getenv("CRUCIBLE_TEST_S3_ACCESS_KEY"),
		SecretKey: os.Getenv("CRUCIBLE_TEST_S3_SECRET_KEY"), Bucket: bucket, CreateBucket: true, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		objs, _ := admin.List(ctx, "")
		for _, o := range objs {
			admin.Delete(ctx, o.Key)
		}
		admin.Client().RemoveBucket(ctx, bucket)
	})
	return bucket
}

// shellQuote returns s as one bash word: unchanged when it holds nothing
// the shell would interpret, single-quoted otherwise.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// waitLineOrEmpty returns the miner's hotkey from its start line.
func (p *proc) waitLineOrEmpty() string {
	if m := regexp.MustCompile(`miner (5\w+)`).FindStringSubmatch(p.output()); m != nil {
		return m[1]
	}
	return "5F..."
}

// run runs one example in a fresh copy of the fixture directory.
func (e *exampleEnv) run(t *testing.T, i int, ex example) {
	line := ex.line
	for k, v := range e.subst {
		line = strings.ReplaceAll(line, k, v)
	}
	if strings.Contains(line, "postgres://") && !e.postgres || strings.Contains(line, "s3://") && !e.s3 {
		t.Logf("example %q needs CI's Postgres and S3 (CRUCIBLE_TEST_POSTGRES_URL, CRUCIBLE_TEST_S3_URL): not run here", ex.line)
		return
	}
	if strings.Contains(line, "TOURNAMENT") {
		t.Errorf("example %q: no tournament could be announced to run it on", ex.line)
		return
	}
	dir := filepath.Join(filepath.Dir(e.fixture), fmt.Sprintf("ex%02d", i))
	copyTree(t, e.fixture, dir)
	// A user running the examples in order has no ./tuned before training
	// it: the fixture's (for the eval and generate examples) goes.
	if m := regexp.MustCompile(`^crucible train .*--out (\S+)`).FindStringSubmatch(line); m != nil {
		os.RemoveAll(filepath.Join(dir, m[1]))
	}
	// A copy: examples run in parallel, and appending to e.vars itself
	// would share its spare capacity (one example's CRUCIBLE_HOME in
	// another's environment).
	vars := append(slices.Clip(e.vars), "CRUCIBLE_HOME="+filepath.Join(dir, ".home"))
	if strings.Contains(line, "$CRUCIBLE_REWARDS") { // set for trainers by the miner
		vars = append(vars, "CRUCIBLE_REWARDS=rewards.json")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Dir, cmd.Env = dir, vars
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder
	sawReady := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if ready.MatchString(sc.Text()) {
				once.Do(func() { close(sawReady) })
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	slot := time.NewTimer(20 * time.Second)
	defer slot.Stop()
	stopped := ""
	select {
	case err := <-done:
		if err != nil {
			mu.Lock()
			t.Errorf("example of %s failed: %s\n  ran: %s\n  %v\n%s", ex.cmd, ex.line, line, err, out.String())
			mu.Unlock()
		}
		return
	case <-sawReady:
		// Give it a moment: a start that fails right after its first line
		// still counts as a failure.
		select {
		case err := <-done:
			if err != nil {
				mu.Lock()
				t.Errorf("example of %s failed: %s\n  %v\n%s", ex.cmd, ex.line, err, out.String())
				mu.Unlock()
			}
			return
		case <-time.After(2 * time.Second):
		}
		stopped = "working"
	case <-slot.C:
		stopped = "still running at the end of its slot"
	}
	cancel()
	<-done
	mu.Lock()
	t.Logf("example %q: %s, stopped", ex.line, stopped)
	mu.Unlock()
}

func copyTree(t *testing.T, from, to string) {
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeFixture writes the files the examples name.
func (e *exampleEnv) writeFixture(t *testing.T) {
	fx := e.fixture
	os.MkdirAll(filepath.Join(fx, "data"), 0o755)
	facts, err := localnet.SampleDataset(t.TempDir(), assets.Facts, 80)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"facts.jsonl", "train.jsonl", "alpaca.jsonl", "test.jsonl", "big.jsonl"} {
		copyFile(t, facts, filepath.Join(fx, n))
	}
	arith, err := localnet.SampleDataset(t.TempDir(), assets.Arithmetic, 60)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, arith, filepath.Join(fx, "arithmetic.jsonl"))
	dpo, err := localnet.SampleDataset(t.TempDir(), assets.FactsDPO, 60)
	if err != nil {
		t.Fatal(err)
	}
	copyFile(t, dpo, filepath.Join(fx, "prefs.jsonl"))
	b, _ := fs.ReadFile(assets.FS(), assets.FactsParquet)
	os.WriteFile(filepath.Join(fx, "facts.parquet"), b, 0o644)
	// The same rows as CSV, and with other column names.
	var csv, qa strings.Builder
	csv.WriteString("prompt,chosen,rejected\n")
	for _, l := range readLines(t, dpo) {
		var r map[string]string
		json.Unmarshal([]byte(l), &r)
		fmt.Fprintf(&csv, "%q,%q,%q\n", r["prompt"], r["chosen"], r["rejected"])
	}
	for _, l := range readLines(t, facts) {
		var r map[string]string
		json.Unmarshal([]byte(l), &r)
		row, _ := json.Marshal(map[string]string{"question": r["instruction"], "answer": r["output"]})
		qa.Write(append(row, '\n'))
	}
	os.WriteFile(filepath.Join(fx, "prefs.csv"), []byte(csv.String()), 0o644)
	os.WriteFile(filepath.Join(fx, "qa.jsonl"), []byte(qa.String()), 0o644)
	os.WriteFile(filepath.Join(fx, "data", "train.jsonl"), []byte(qa.String()), 0o644)
	os.WriteFile(filepath.Join(fx, "my_reward.star"), []byte("def reward(prompt, completion, extra):\n    return 1.0 if len(completion) < 40 else 0.0\n"), 0o644)
	os.WriteFile(filepath.Join(fx, "format.star"), []byte("def reward(prompt, completion, extra):\n    return 1.0 if completion.strip() else 0.0\n"), 0o644)
	os.WriteFile(filepath.Join(fx, "rewards.json"), []byte(`[{"name": "numeric_answer", "weight": 1}]`), 0o644)
	os.WriteFile(filepath.Join(fx, "samples.jsonl"), []byte(`{"prompt": "2+2?", "completion": "4", "extra": {"answer": 4}}`+"\n"), 0o644)
	os.WriteFile(filepath.Join(fx, "train.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755)

	// Models: the tiny model under the names the examples use, and what
	// earlier runs would have left: adapters (./tuned, ./adapter) and full
	// models (./dpo-tuned, ./rl).
	for _, n := range []string{"tiny", "smollm"} {
		if _, err := localnet.TinyModel(filepath.Join(fx, "models"), n); err != nil {
			t.Fatal(err)
		}
	}
	tiny := filepath.Join(fx, "models", "tiny")
	for _, n := range []string{"tuned", "adapter"} {
		m, err := model.Load(tiny)
		if err != nil {
			t.Fatal(err)
		}
		l, err := m.AddLoRA(model.LoRAConfig{Rank: 2, Alpha: 4, TargetModules: model.DefaultLoRATargets(m.Config()), BaseModel: "models/tiny"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range l.Params() {
			l.Params()[i] = float32(i%5-2) * 1e-3
		}
		if err := m.SaveAdapter(filepath.Join(fx, n)); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"dpo-tuned", "rl"} {
		m, err := model.Load(tiny)
		if err != nil {
			t.Fatal(err)
		}
		m.Params()[0] += 0.01 // a fine-tune, not the base itself
		if err := m.Save(filepath.Join(fx, n)); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(tiny, "tokenizer.json"), filepath.Join(fx, n, "tokenizer.json"))
		copyFile(t, filepath.Join(tiny, "tokenizer_config.json"), filepath.Join(fx, n, "tokenizer_config.json"))
	}
	cmd := exec.Command(e.bin, "data", "tokenize", "--model", tiny, "--data", filepath.Join(fx, "test.jsonl"), "--out", filepath.Join(fx, "test.tokens.safetensors"))
	cmd.Env = append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tokenize: %v\n%s", err, out)
	}
}

func readLines(t *testing.T, path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
