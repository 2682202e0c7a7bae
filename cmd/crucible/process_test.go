package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub/hubtest"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

// proc is a crucible daemon started as its own process.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	line chan string
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), line: make(chan string, 100)}
	p.cmd.Env = append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir())
	stdout, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.line <- sc.Text():
			default:
			}
		}
	}()
	t.Cleanup(func() {
		p.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(args[0]), p.output())
		}
	})
	return p
}

// waitLine waits for a line of p's output matching re and returns its groups.
func (p *proc) waitLine(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-p.line:
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %s within %s; output:\n%s", re, within, p.output())
		}
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNetworkAsProcesses runs a chain, a validator, two miners and an
// auditor as separate processes, talking over loopback with signed requests.
func TestNetworkAsProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a network")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "crucible")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	chainAddr := freeAddr(t)
	chainURL := "http://" + chainAddr
	start(t, bin, "chain", "--listen", chainAddr, "--db", filepath.Join(dir, "chain.json"), "--block-time", "100ms",
		"--tempo", "10", "--weights-rate-limit", "1", "--min-allowed-weights", "1")
	waitHTTP(t, chainURL+"/v1/metagraph")

	// The shipped-models folder the validator offers customers: the tiny test
	// model under the name "tiny".
	modelsDir := filepath.Join(dir, "models")
	if _, err := localnet.TinyModel(modelsDir, "tiny"); err != nil {
		t.Fatal(err)
	}
	dataset, err := localnet.SampleDataset(t.TempDir(), assets.Facts, 200)
	if err != nil {
		t.Fatal(err)
	}
	vkeyPath := filepath.Join(dir, "validator.json")
	v := start(t, bin, "validator", "--listen", "127.0.0.1:0", "--chain", chainURL, "--key", vkeyPath,
		"--home", filepath.Join(dir, "validator"), "--poll", "500ms",
		"--weights-every", "1s", "--synthetic-every", "500ms", "--synthetic-models", "tiny", "--assets", modelsDir,
		"--synthetic-datasets", dataset, "--synthetic-hours", fmt.Sprint(12.0/3600), "--offer-timeout", "10s", "--delay-for", "1s", "--verbose")
	m := v.waitLine(t, regexp.MustCompile(`listening on (http://\S+)`), 60*time.Second)
	validatorURL := m[1]
	adminKey := v.waitLine(t, regexp.MustCompile(`admin API key .*: (\S+)$`), 10*time.Second)[1]
	for i, strat := range []string{"lora-fast", "full"} {
		mp := start(t, bin, "miner", "--listen", "127.0.0.1:0", "--chain", chainURL, "--key", filepath.Join(dir, fmt.Sprintf("m%d.json", i)),
			"--home", filepath.Join(dir, fmt.Sprintf("m%d", i)), "--strategy", strat, "--min-hours", "0", "--upload-margin", "2s")
		mp.waitLine(t, regexp.MustCompile(`listening on`), 60*time.Second)
	}

	// The validator schedules a synthetic task, the miners train it, the
	// validator evaluates and logs the results and sets weights.
	var tr resultlog.TaskResult
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		entries := results(t, validatorURL)
		tasks, weights, err := resultlog.Decode(entries)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) > 0 && len(weights) > 0 {
			tr = tasks[0]
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if tr.TaskID == "" {
		t.Fatalf("no task result and weights in the log in time; validator output:\n%s", v.output())
	}
	if tr.IsOrganic || len(tr.Miners) != 2 || tr.Winner == "" {
		t.Errorf("task result %+v", tr)
	}
	vkey, err := sign.LoadKeyFile(vkeyPath)
	if err != nil {
		t.Fatal(err)
	}
	// An auditor, from outside, finds nothing wrong.
	audit := exec.Command(bin, "auditor", "--validator", validatorURL, "--validator-hotkey", vkey.Address(),
		"--chain", chainURL, "--key", filepath.Join(dir, "auditor.json"), "--sample", "1", "--min-cosine", "0.95", "--assets", modelsDir, "--api-key", adminKey)
	audit.Env = append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir())
	out, err := audit.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no discrepancies") || !strings.Contains(string(out), "re-evaluated") {
		t.Errorf("auditor: %v\n%s", err, out)
	}
	customerCLI(t, bin, validatorURL, adminKey, dataset)
}

// A customer, with the CLI: create a task from a local file, follow it,
// see the results, download the winner.
func customerCLI(t *testing.T, bin, validatorURL, key, dataset string) {
	t.Helper()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--server", validatorURL, "--key", key)...)
		cmd.Env = append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("crucible %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var created struct {
		Task struct {
			ID string `json:"id"`
		} `json:"task"`
	}
	out := run("tasks", "create", "--model", "tiny", "--dataset", dataset, "--hours", fmt.Sprint(10.0/3600), "--json")
	err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &created)
	task := created.Task
	if err != nil || task.ID == "" {
		t.Fatalf("tasks create: %v\n%s", err, out)
	}
	if out := run("tasks", "watch", task.ID); !strings.Contains(out, "success") {
		t.Errorf("tasks watch did not see the task succeed:\n%s", out)
	}
	if out := run("tasks", "results", task.ID); !strings.Contains(out, "lowest test loss") {
		t.Errorf("tasks results:\n%s", out)
	}
	// The winner comes in one folder with its model card; --merged gives a
	// full model (an adapter merged into its base), in its own folder. Task
	// IDs may be shortened.
	for _, merged := range []bool{false, true} {
		dir := t.TempDir()
		args := []string{"tasks", "download", task.ID[:8]}
		folder, want := "crucible-"+task.ID, "README.md"
		if merged {
			args, folder, want = append(args, "--merged"), folder+"-merged", "config.json"
		}
		cmd := exec.Command(bin, append(args, "--server", validatorURL, "--key", key)...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "it makes the folder "+folder) {
			t.Fatalf("download (merged %v): %v\n%s", merged, err, out)
		}
		untar := exec.Command("tar", "-xf", folder+".tar")
		untar.Dir = dir
		if out, err := untar.CombinedOutput(); err != nil {
			t.Fatalf("tar -xf: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, folder, want)); err != nil {
			entries, _ := os.ReadDir(dir)
			t.Errorf("download (merged %v) unpacks without %s/%s: %v", merged, folder, want, entries)
		}
	}
	// Push the winner to a (local) hub, with its model card; the token
	// goes to the hub only.
	h := hubtest.New(t, "hf_push_token_for_the_test")
	push := exec.Command(bin, "tasks", "push", task.ID[:8], "--repo", "alice/facts-winner", "--endpoint", h.URL, "--server", validatorURL, "--key", key)
	push.Env = append(os.Environ(), "CRUCIBLE_HOME="+t.TempDir(), "HF_TOKEN="+h.Token)
	pushed, err := push.CombinedOutput()
	if err != nil || !strings.Contains(string(pushed), "pushed") || strings.Contains(string(pushed), h.Token) {
		t.Fatalf("tasks push: %v\n%s", err, pushed)
	}
	if card, ok := h.File("alice/facts-winner", "README.md"); !ok || !strings.Contains(string(card), "base_model:") {
		t.Errorf("the hub has no model card: %s", card)
	}
	if out := run("tasks", "list"); !strings.Contains(out, task.ID[:8]) {
		t.Errorf("tasks list does not show %s:\n%s", task.ID, out)
	}
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer", url)
}

func results(t *testing.T, base string) []*crucible.ResultEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/results", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []*crucible.ResultEntry
	json.Unmarshal(b, &out)
	return out
}
