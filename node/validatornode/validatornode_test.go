package validatornode_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/sign"
)

// databases returns the database URLs a test runs on: a SQLite file in dir
// always, and a fresh Postgres schema when CRUCIBLE_TEST_POSTGRES_URL is set.
func databases(t *testing.T, dir string) map[string]string {
	dbs := map[string]string{"sqlite": filepath.Join(dir, "validator.db")}
	if base := os.Getenv("CRUCIBLE_TEST_POSTGRES_URL"); base != "" {
		dbs["postgres"] = freshSchema(t, base)
	}
	return dbs
}

// freshSchema creates a schema with a random name and returns base with its
// search_path set to it; the schema is dropped when the test ends.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
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

// fixture is what a validator node in these tests works on: a home, a
// database, a models folder with the tiny model as "tiny", and a dataset.
type fixture struct {
	home, db, models, dataset string
}

func newFixture(t *testing.T, db string) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{home: filepath.Join(dir, "home"), db: db, models: filepath.Join(dir, "models")}
	if f.db == "" {
		f.db = filepath.Join(f.home, "validator.db")
	}
	if _, err := localnet.TinyModel(f.models, "tiny"); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.dataset, err = localnet.SampleDataset(dir, assets.Facts, 120); err != nil {
		t.Fatal(err)
	}
	return f
}

// open opens a validator node on the fixture, as a process starting would.
func (f fixture) open(t *testing.T) (*validatornode.Node, error) {
	t.Helper()
	cfg := validatornode.DefaultConfig()
	cfg.Home, cfg.DB, cfg.Listen, cfg.Assets = f.home, f.db, "127.0.0.1:0", f.models
	cfg.Poll, cfg.WeightsEvery, cfg.BlockTime = 200*time.Millisecond, 0, 50*time.Millisecond
	key, _ := sign.FromURI("//validatornode-test")
	return validatornode.Open(context.Background(), cfg, validatornode.Deps{Key: key})
}

func (f fixture) task() *crucible.Task {
	return &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: f.dataset, HoursToComplete: 0.01, IsOrganic: true}
}

// TestCrashBetweenTaskRowAndJob kills a validator process (os.Exit, no
// cleanup) after Submit has written a task's row and before it queued the
// task's job, then restarts it on the same state: the task must not be
// stranded. Because the row and the job are one transaction, the killed
// submission leaves nothing behind, and a task submitted after the restart
// runs. On SQLite and, when configured, Postgres.
func TestCrashBetweenTaskRowAndJob(t *testing.T) {
	if dir := os.Getenv("CRUCIBLE_CRASH_HOME"); dir != "" {
		crashingSubmit(t, dir)
		return
	}
	for name, db := range databases(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, db)
			child := exec.Command(os.Args[0], "-test.run=^TestCrashBetweenTaskRowAndJob$", "-test.count=1")
			child.Env = append(os.Environ(), "CRUCIBLE_CRASH_HOME="+f.home, "CRUCIBLE_CRASH_DB="+f.db,
				"CRUCIBLE_CRASH_MODELS="+f.models, "CRUCIBLE_CRASH_DATASET="+f.dataset)
			out, err := child.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 || !strings.Contains(string(out), "task row written") {
				t.Fatalf("the child did not crash where it should: %v\n%s", err, out)
			}

			// The restarted validator (its lock was the dead process's) finds
			// no half-submitted task, and a new one runs.
			n, err := f.open(t)
			if err != nil {
				t.Fatalf("restart after the crash: %v", err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer func() { cancel(); n.Wait() }()
			if err := n.Start(ctx); err != nil {
				t.Fatal(err)
			}
			tasks, total, err := n.Store().FindTasks(ctx, crucible.TaskFilter{})
			if err != nil || total != 0 {
				t.Fatalf("after the crash the store holds %d tasks (%v): %+v", total, err, tasks)
			}
			task := f.task()
			if err := n.Submit(ctx, task); err != nil {
				t.Fatal(err)
			}
			if jobs, err := validatornode.JobsFor(n, task.ID); err != nil || jobs != 1 {
				t.Fatalf("task %s has %d jobs (%v), want 1", task.ID, jobs, err)
			}
			waitStatus(t, n, task.ID, func(s crucible.TaskStatus) bool { return s != crucible.StatusPending })
		})
	}
}

// crashingSubmit is the child process of TestCrashBetweenTaskRowAndJob: it
// submits a task and dies between writing its row and queuing its job.
func crashingSubmit(t *testing.T, home string) {
	f := fixture{home: home, db: os.Getenv("CRUCIBLE_CRASH_DB"), models: os.Getenv("CRUCIBLE_CRASH_MODELS"), dataset: os.Getenv("CRUCIBLE_CRASH_DATASET")}
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	validatornode.SetAfterTaskRow(n, func() error {
		os.Stdout.WriteString("task row written; crashing\n")
		os.Exit(3)
		return nil
	})
	err = n.Submit(context.Background(), f.task())
	t.Fatalf("Submit returned (%v) instead of crashing", err)
}

// TestSubmitIsAtomic checks that a failure between the task row and its job
// rolls the task back, and that a successful Submit leaves exactly one job.
func TestSubmitIsAtomic(t *testing.T) {
	for name, db := range databases(t, t.TempDir()) {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, db)
			n, err := f.open(t)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			ctx := context.Background()
			validatornode.SetAfterTaskRow(n, func() error { return errors.New("disk on fire") })
			task := f.task()
			if err := n.Submit(ctx, task); err == nil || !strings.Contains(err.Error(), "disk on fire") {
				t.Fatalf("Submit: %v", err)
			}
			if _, total, _ := n.Store().FindTasks(ctx, crucible.TaskFilter{}); total != 0 {
				t.Fatalf("a failed submission left %d tasks", total)
			}
			validatornode.SetAfterTaskRow(n, nil)
			task = f.task()
			if err := n.Submit(ctx, task); err != nil {
				t.Fatal(err)
			}
			if jobs, err := validatornode.JobsFor(n, task.ID); err != nil || jobs != 1 {
				t.Fatalf("%d jobs (%v), want 1", jobs, err)
			}
			// A task that does not check is refused before anything is written.
			bad := f.task()
			bad.Model = "no-such-model"
			if err := n.Submit(ctx, bad); crucible.ErrorCode(err) != crucible.ENOTFOUND {
				t.Errorf("unknown model: %v", err)
			}
		})
	}
}

// TestStartRequeuesUnfinishedTasks checks that a task whose row has no job
// (written by an older version, or its job discarded) moves on after Start.
func TestStartRequeuesUnfinishedTasks(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	orphan := f.task()
	if err := n.Store().CreateTask(ctx, orphan); err != nil { // the row alone, no job
		t.Fatal(err)
	}
	if jobs, _ := validatornode.JobsFor(n, orphan.ID); jobs != 0 {
		t.Fatalf("%d jobs before Start", jobs)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n, orphan.ID, func(s crucible.TaskStatus) bool { return s != crucible.StatusPending })
	if c, err := n.Requeue(ctx); err != nil || c != 1 {
		t.Errorf("Requeue: %d unfinished tasks, %v", c, err)
	}
}

// TestSecondValidatorOnSameStateRefused checks the state lock.
func TestSecondValidatorOnSameStateRefused(t *testing.T) {
	f := newFixture(t, "")
	first, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.open(t)
	if crucible.ErrorCode(err) != crucible.ECONFLICT || !strings.Contains(err.Error(), "in use by another validator") {
		t.Fatalf("second validator on the same state: %v", err)
	}
	first.Close()
	again, err := f.open(t)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	again.Close()
}

// TestCancelAndEstimate checks cancellation (the job that notices is
// queued with it) and the estimate's pricing.
func TestCancelAndEstimate(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ctx := context.Background()
	task := f.task()
	if err := n.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := n.Cancel(ctx, task.ID, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	got, _ := n.Store().FindTask(ctx, task.ID)
	if got.Status != crucible.StatusCancelled || got.Failure != "changed my mind" || got.CompletedAt == nil {
		t.Errorf("cancelled task: %+v", got)
	}
	if err := n.Cancel(ctx, task.ID, "again"); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("cancel a finished task: %v", err)
	}
	if err := n.Cancel(ctx, "no-such-task", "x"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("cancel an unknown task: %v", err)
	}
	est, err := n.Estimate(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: f.dataset})
	if err != nil {
		t.Fatal(err)
	}
	if est.Rows != 120 || est.TrainRows+est.TestRows != 120 || est.ModelParams == 0 || est.Hours != 3.0/60 ||
		est.ETA != 5*time.Minute || est.CostUnit != validatornode.CostUnit || est.Cost != est.Hours*float64(est.ModelParams)/1e9 {
		t.Errorf("estimate %+v", est)
	}
	est, err = n.Estimate(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: f.dataset, Hours: 2})
	if err != nil || est.Hours != 2 || est.ETA != 2*time.Hour+2*time.Minute {
		t.Errorf("estimate with hours: %+v %v", est, err)
	}
	small, _ := localnet.SampleDataset(t.TempDir(), assets.Facts, 5)
	if _, err := n.Estimate(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: small}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a dataset below the minimum rows: %v", err)
	}
}

// TestKickOfEndedTaskForgotten checks that a kick for a task that lands
// while the task's last step runs (an upload that comes as the task ends)
// is not kept once the task has ended, nor one that comes after.
func TestKickOfEndedTaskForgotten(t *testing.T) {
	f := newFixture(t, "")
	n, err := f.open(t)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	task := f.task()
	var kickedLast atomic.Bool
	validatornode.SetAfterStep(n, func(id string, next time.Time) {
		if id == task.ID && next.IsZero() && kickedLast.CompareAndSwap(false, true) {
			validatornode.Kick(n, id) // as the step that ends the task returns
		}
	})
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Submit(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := n.Cancel(ctx, task.ID, "ended"); err != nil {
		t.Fatal(err)
	}
	waitJobs := func() {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			c, err := validatornode.UnfinishedJobsFor(n, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if c == 0 && kickedLast.Load() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s still has %d unfinished jobs (kicked in its last step: %v)", task.ID, c, kickedLast.Load())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitJobs()
	if k := validatornode.Kicked(n); k != 0 {
		t.Errorf("a kick that came during the task's last step is kept after the task ended (%d)", k)
	}
	before, _ := validatornode.JobsFor(n, task.ID)
	validatornode.Kick(n, task.ID) // an upload after the end
	if after, _ := validatornode.JobsFor(n, task.ID); after <= before {
		t.Fatalf("the kick queued no run: %d jobs before, %d after", before, after)
	}
	waitJobs()
	if k := validatornode.Kicked(n); k != 0 {
		t.Errorf("a kick after the task ended is kept (%d)", k)
	}
}

// waitStatus polls a task until ok accepts its status, for up to a minute.
func waitStatus(t *testing.T, n *validatornode.Node, id string, ok func(crucible.TaskStatus) bool) *crucible.Task {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		task, err := n.Store().FindTask(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(task.Status) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s stayed %s", id, task.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUseSpareThreads checks that the validator's spare threads are added
// to GOMAXPROCS and taken back, and that none changes nothing.
func TestUseSpareThreads(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	restore := validatornode.UseSpareThreads(1)
	if got := runtime.GOMAXPROCS(0); got != before+1 {
		t.Errorf("GOMAXPROCS %d with one spare thread, want %d", got, before+1)
	}
	restore()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d after restore, want %d", got, before)
	}
	validatornode.UseSpareThreads(0)()
	if got := runtime.GOMAXPROCS(0); got != before {
		t.Errorf("GOMAXPROCS %d with no spare thread, want %d", got, before)
	}
	if c := validatornode.DefaultConfig(); c.SpareThreads != 1 {
		t.Errorf("default --spare-threads %d, want 1", c.SpareThreads)
	}
}
