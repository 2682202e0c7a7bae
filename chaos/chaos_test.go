package chaos_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

// envInt reads a positive integer setting from the environment.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// freshSchema creates a Postgres schema for this run and returns the URL
// that uses it; the schema is dropped when the test ends.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "chaos_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		admin.Close()
	})
	u, _ := url.Parse(base)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// retry calls f until it succeeds or within has passed: the validator may
// be down for a moment.
func retry[T any](t *testing.T, what string, within time.Duration, f func(context.Context) (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		v, err := f(ctx)
		cancel()
		if err == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dropRate is the share of the connections through a proxy that are
// dropped after a number of bytes, until the schedule of kills ends.
const dropRate = 0.15

// TestChaos runs the network while nodes are killed and restarted, and
// checks that no work is lost or stranded and that the books balance.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a network of processes for minutes")
	}
	began := time.Now()
	seed := uint64(envInt("CRUCIBLE_CHAOS_SEED", 1))
	wantKills, wantTasks := envInt("CRUCIBLE_CHAOS_KILLS", 50), envInt("CRUCIBLE_CHAOS_TASKS", 24)
	dir := t.TempDir()
	if keep := os.Getenv("CRUCIBLE_CHAOS_DIR"); keep != "" {
		// The run's directory (logs, homes, stores) is kept there.
		dir = filepath.Join(keep, time.Now().UTC().Format("20060102T150405"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("the run's directory: %s", dir)
	}
	bin := build(t, dir)
	models := filepath.Join(dir, "models")
	if _, err := localnet.TinyModel(models, "tiny"); err != nil {
		t.Fatal(err)
	}
	dataset, err := localnet.SampleDataset(dir, assets.Facts, 400)
	if err != nil {
		t.Fatal(err)
	}

	chainAddr, vAddr := freeAddr(t), freeAddr(t)
	chainURL, vURL := "http://"+chainAddr, "http://"+vAddr
	// The nodes reach the chain, and the miners the validator (downloads,
	// uploads, the results log), through proxies that drop connections:
	// some after a number of bytes, in the middle of a body, and all of a
	// proxy's live ones at moments of the schedule below.
	chainProxy := newProxy(t, "chain", chainAddr, seed, dropRate)
	validatorProxy := newProxy(t, "validator", vAddr, seed+1, dropRate)
	proxies := []*proxy{chainProxy, validatorProxy}
	proxiedChain := "http://" + chainProxy.addr
	chainNode := newNode(t, dir, "chain", bin, chainAddr, "chain", "--listen", chainAddr, "--db", filepath.Join(dir, "chain.json"),
		"--block-time", "100ms", "--tempo", "10", "--weights-rate-limit", "1", "--min-allowed-weights", "1")
	vargs := []string{"validator", "--listen", vAddr, "--chain", proxiedChain, "--public-url", "http://" + validatorProxy.addr, "--home", filepath.Join(dir, "validator"),
		"--assets", models, "--poll", "500ms", "--workers", "4", "--offer-timeout", "5s", "--delay-for", "1s", "--max-delays", "500",
		"--weights-every", "2s", "--reoffer-min", "6s", "--miner-unreachable", "3s", "--test-cap", "20", "--pool-max", "3",
		"--rate-per-address", "1000000", "--rate-per-account", "1000000", "--seed", strconv.FormatUint(seed, 10)}
	db := "sqlite"
	if base := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); base != "" {
		vargs = append(vargs, "--db", freshSchema(t, base))
		db = "postgres"
	}
	validatorNode := newNode(t, dir, "validator", bin, vAddr, vargs...)
	nodes := []*node{chainNode, validatorNode}
	for i := 1; i <= 3; i++ {
		addr := freeAddr(t)
		nodes = append(nodes, newNode(t, dir, fmt.Sprintf("miner%d", i), bin, addr, "miner", "--listen", addr, "--chain", proxiedChain,
			"--home", filepath.Join(dir, fmt.Sprintf("miner%d", i)), "--strategy", "lora-fast", "--min-hours", "0", "--upload-margin", "2s",
			"--max-jobs", "2", "--max-queued", "2", "--seed", strconv.Itoa(i), "--rate-per-address", "1000000", "--verbose"))
	}
	env := []string{"CRUCIBLE_HOME=" + filepath.Join(dir, "home")}
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s (last lines):\n%s", n.name, n.tail(40))
			}
		}
	}()
	for _, n := range nodes {
		n.start(t, env...)
	}
	adminKey := retry(t, "the admin key", time.Minute, func(context.Context) (string, error) {
		m := regexp.MustCompile(`admin API key .*: (\S+)`).FindStringSubmatch(validatorNode.output())
		if m == nil {
			return "", fmt.Errorf("not printed yet")
		}
		return m[1], nil
	})
	vkey, err := sign.LoadKeyFile(filepath.Join(dir, "validator", "keys", "validator.json"))
	if err != nil {
		t.Fatal(err)
	}
	client := api.NewClient(vURL, adminKey)
	upload := retry(t, "upload the dataset", time.Minute, func(ctx context.Context) (*api.DatasetUpload, error) {
		f, err := os.Open(dataset)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return client.UploadDataset(ctx, "facts.jsonl", f)
	})
	submit := func() {
		retry(t, "create a task", 2*time.Minute, func(ctx context.Context) (*api.CreatedTask, error) {
			return client.CreateTask(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: upload.Ref(), Hours: 20.0 / 3600, Public: true})
		})
	}

	// The chaos: a seeded schedule of kills (victim, when, how long it stays
	// down) while the tasks come in.
	// The tasks arrive spread over the whole schedule, a few at a time, so
	// that kills fall on every stage of their lives.
	rng := mrand.New(mrand.NewPCG(seed, 0xc4a05))
	cuts := mrand.New(mrand.NewPCG(seed, 0xd209)) // a stream of its own: the kills are the seed's as before
	submitted, kills := 0, 0
	for kills < wantKills || submitted < wantTasks {
		due := min(wantTasks, (kills+1)*wantTasks/wantKills+rng.IntN(2))
		for ; submitted < due; submitted++ {
			submit()
		}
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		if kills >= wantKills {
			continue
		}
		victim := nodes[rng.IntN(len(nodes))]
		down := time.Duration(rng.IntN(1500)) * time.Millisecond
		cut, cutAt := proxies[cuts.IntN(len(proxies))], time.Duration(cuts.IntN(1000))*time.Millisecond
		victim.kill()
		kills++
		// While the victim is down, a proxy drops what it carries.
		time.Sleep(min(cutAt, down))
		cut.cutAll()
		time.Sleep(down - min(cutAt, down))
		victim.start(t, env...)
	}
	chaosEnded := time.Now()
	for _, p := range proxies {
		p.calm()
	}

	// Every task ends: in success, or in a failure that says why.
	var tasks []*crucible.Task
	deadline := time.Now().Add(4 * time.Minute)
	for {
		list := retry(t, "list the tasks", time.Minute, func(ctx context.Context) (*api.TaskList, error) {
			return client.Tasks(ctx, api.TaskQuery{All: true, Limit: 500})
		})
		open := 0
		for _, tk := range list.Tasks {
			if !tk.Status.Terminal() {
				open++
			}
		}
		if open == 0 {
			tasks = list.Tasks
			break
		}
		if time.Now().After(deadline) {
			for _, tk := range list.Tasks {
				if !tk.Status.Terminal() {
					t.Errorf("task %s stranded in %s", tk.ID, tk.Status)
				}
			}
			t.FailNow()
		}
		time.Sleep(500 * time.Millisecond)
	}
	outcomes, reasons := map[crucible.TaskStatus]int{}, map[string]int{}
	for _, tk := range tasks {
		outcomes[tk.Status]++
		if tk.Status != crucible.StatusSuccess {
			if strings.TrimSpace(tk.Failure) == "" {
				t.Errorf("task %s ended %s without saying why", tk.ID, tk.Status)
			}
			reasons[shortReason(tk.Failure)]++
		}
	}
	if len(tasks) < wantTasks {
		t.Errorf("%d tasks in the store, %d submitted", len(tasks), wantTasks)
	}
	if outcomes[crucible.StatusSuccess] == 0 {
		t.Errorf("no task succeeded: %v", reasons)
	}

	// The results log verifies, and holds weights set after the last task.
	entries := waitWeightsAfterTasks(t, vURL, len(tasks))
	if p := resultlog.Verify(entries, 1, "", vkey.Address(), sign.VerifySignature); len(p) != 0 {
		t.Errorf("the results log does not verify: %v", p)
	}
	// An auditor, from outside, finds no discrepancy.
	audit := exec.Command(bin, "auditor", "--validator", vURL, "--validator-hotkey", vkey.Address(), "--chain", chainURL,
		"--key", filepath.Join(dir, "auditor.json"), "--sample", "2", "--min-cosine", "0.95", "--assets", models, "--api-key", adminKey)
	audit.Env = append(os.Environ(), env...)
	out, err := audit.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no discrepancies") {
		t.Errorf("auditor: %v\n%s", err, out)
	}

	var drops []string
	for _, p := range proxies {
		conns, dropped, midway := p.counts()
		drops = append(drops, fmt.Sprintf("%s %d of %d (%d mid-stream)", p.name, dropped, conns, midway))
	}
	var killsBy, crashes []string
	for _, n := range nodes {
		killsBy = append(killsBy, fmt.Sprintf("%s %d", n.name, n.kills))
		if n.crashes > 0 {
			crashes = append(crashes, fmt.Sprintf("%s %d", n.name, n.crashes))
		}
	}
	if len(crashes) > 0 {
		t.Errorf("nodes exited by themselves: %s", strings.Join(crashes, ", "))
	}
	// No miner keeps a finished job's files (a copy of the base model,
	// checkpoints): only the job's record stays, until it is forgotten.
	records := 0
	for i := 1; i <= 3; i++ {
		records += waitJobsCleared(t, filepath.Join(dir, fmt.Sprintf("miner%d", i), "miner", "jobs"))
	}
	if records == 0 {
		t.Errorf("no miner holds a record of any job: the check of their directories saw nothing")
	}
	resumed, retried := 0, 0
	for _, n := range nodes[2:] {
		for _, line := range strings.Split(n.output(), "\n") {
			if strings.Contains(line, "job restored") && (strings.Contains(line, "state=queued") || strings.Contains(line, "state=uploading")) {
				resumed++
			}
		}
		retried += strings.Count(n.output(), "upload failed; trying again")
	}
	var rs []string
	for r, c := range reasons {
		rs = append(rs, fmt.Sprintf("%d× %s", c, r))
	}
	sort.Strings(rs)
	t.Logf("chaos (seed %d, %s): %d kills (%s) and connections dropped (%s) over %s; %d tasks: %d succeeded, %d failed; failures: %s; jobs resumed by restarted miners %d, upload retries %d; all settled %s after the last kill; %s in all",
		seed, db, kills, strings.Join(killsBy, ", "), strings.Join(drops, ", "), chaosEnded.Sub(began).Round(time.Second), len(tasks), outcomes[crucible.StatusSuccess],
		len(tasks)-outcomes[crucible.StatusSuccess], strings.Join(rs, "; "), resumed, retried, time.Since(chaosEnded).Round(time.Second), time.Since(began).Round(time.Second))
}

// shortReason is the first clause of a failure, for counting.
func shortReason(s string) string {
	if i := strings.IndexAny(s, ":("); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// waitWeightsAfterTasks reads the results log until it holds a weights
// entry after every task's entry, and returns it.
func waitWeightsAfterTasks(t *testing.T, vURL string, tasks int) []*crucible.ResultEntry {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var entries []*crucible.ResultEntry
		for after := int64(0); ; {
			resp, err := http.Get(fmt.Sprintf("%s/v1/results?after=%d", vURL, after))
			if err != nil {
				t.Fatal(err)
			}
			var page []*crucible.ResultEntry
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			entries = append(entries, page...)
			after = page[len(page)-1].Seq
		}
		lastTask, lastWeights := int64(0), int64(0)
		for _, e := range entries {
			switch e.Kind {
			case resultlog.KindTaskResult:
				lastTask = e.Seq
			case resultlog.KindWeights:
				lastWeights = e.Seq
			}
		}
		if lastWeights > lastTask {
			return entries
		}
		if time.Now().After(deadline) {
			t.Fatalf("no weights logged after the last task result (entry %d) in time", lastTask)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitJobsCleared waits until every job directory under jobs holds nothing
// but the job's record (job.json), and fails the test naming what is left.
// It returns how many job directories there are.
func waitJobsCleared(t *testing.T, jobs string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		ents, err := os.ReadDir(jobs)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, e := range ents {
			files, _ := os.ReadDir(filepath.Join(jobs, e.Name()))
			for _, f := range files {
				if f.Name() != "job.json" {
					left = append(left, filepath.Join(e.Name(), f.Name()))
				}
			}
		}
		if len(left) == 0 {
			return len(ents)
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: ended jobs left files behind: %s", jobs, strings.Join(left, ", "))
			return len(ents)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
