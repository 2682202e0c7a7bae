package miner_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/protocol"
)

// runMiner runs a miner on workDir with strategy until stop is called (or
// the test ends).
func runMiner(t *testing.T, workDir string, strategy miner.Strategy) (m *miner.Miner, stop func()) {
	t.Helper()
	cfg := miner.DefaultConfig()
	cfg.WorkDir, cfg.UploadMargin = workDir, 0
	m, err := miner.New(cfg, strategy, protocol.HTTPValidators(http.DefaultClient, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return m, stop
}

// noTraining fails the test when it is asked to train.
type noTraining struct{ t *testing.T }

func (noTraining) Name() string { return "none" }
func (s noTraining) Train(context.Context, *miner.Job, func(miner.Progress)) error {
	s.t.Error("a job whose result was packed was trained again")
	return errors.New("no")
}

func command(t *testing.T, body string) miner.Strategy {
	return &miner.CommandStrategy{Argv: script(t, body), GracePeriod: 100 * time.Millisecond}
}

// A miner that stops (or is killed) while it trains finds the job again
// when it starts, trains it again and uploads it; only the job's record is
// left in its directory afterwards.
func TestRestartResumesTraining(t *testing.T) {
	v := newFakeValidator(t)
	work := t.TempDir()
	m, stop := runMiner(t, work, command(t, "exec sleep 30"))
	if err := start(m, v.request("r1", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, "r1", api.JobTraining)
	stop()
	m2, _ := runMiner(t, work, command(t, goodTrainer))
	if st := waitState(t, m2, "r1", api.JobDone, api.JobFailed); st.State != api.JobDone {
		t.Fatalf("resumed job: %s %s", st.State, st.Message)
	}
	if err := start(m2, v.request("r1", time.Now().Add(time.Minute))); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("a restored job started twice: %v", err)
	}
	left, _ := os.ReadDir(filepath.Join(work, "jobs", "r1"))
	if len(left) != 1 || left[0].Name() != "job.json" {
		t.Errorf("job directory after the upload holds %v, want only job.json", left)
	}
}

// A result packed before a restart is uploaded by the next run without
// training again, once the validator takes it.
func TestRestartResumesUpload(t *testing.T) {
	defer miner.SetUploadWait(func(int) time.Duration { return 20 * time.Millisecond })()
	v := newFakeValidator(t)
	v.refuse.Store(http.StatusServiceUnavailable) // the validator is down
	work := t.TempDir()
	m, stop := runMiner(t, work, command(t, goodTrainer))
	if err := start(m, v.request("r2", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, "r2", api.JobUploading)
	for v.attempts.Load() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	v.refuse.Store(0) // back up
	m2, _ := runMiner(t, work, noTraining{t})
	if st := waitState(t, m2, "r2", api.JobDone, api.JobFailed); st.State != api.JobDone {
		t.Fatalf("resumed upload: %s %s", st.State, st.Message)
	}
	v.mu.Lock()
	got := len(v.uploads["r2-result"])
	v.mu.Unlock()
	if got == 0 {
		t.Fatal("nothing uploaded")
	}
}

// Uploads are retried while the validator answers with failures it may
// get over, and end at once on a refusal that will not change.
func TestUploadRetries(t *testing.T) {
	defer miner.SetUploadWait(func(int) time.Duration { return 10 * time.Millisecond })()
	v := newFakeValidator(t)
	v.refuse.Store(http.StatusInternalServerError)
	m, _ := runMiner(t, t.TempDir(), command(t, goodTrainer))
	if err := start(m, v.request("u1", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	for v.attempts.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	v.refuse.Store(0)
	if st := waitState(t, m, "u1", api.JobDone, api.JobFailed); st.State != api.JobDone {
		t.Fatalf("after retries: %s %s", st.State, st.Message)
	}
	v.refuse.Store(http.StatusConflict) // late: the task takes no more results
	before := v.attempts.Load()
	if err := start(m, v.request("u2", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, m, "u2", api.JobDone, api.JobFailed)
	if st.State != api.JobFailed || !strings.Contains(st.Message, "refused") || v.attempts.Load() != before+1 {
		t.Fatalf("a final refusal: %s %q after %d attempts", st.State, st.Message, v.attempts.Load()-before)
	}
}

// With KeepFinished set, finished jobs are forgotten that long after their
// deadline: a miner that runs many short tasks holds only those of the last
// deadline window and KeepFinished, however many it ran.
func TestKeepFinishedBoundsJobs(t *testing.T) {
	v := newFakeValidator(t)
	cfg := miner.DefaultConfig()
	cfg.WorkDir, cfg.UploadMargin, cfg.KeepFinished, cfg.MaxQueued = t.TempDir(), 0, 30*time.Second, 100
	m, err := miner.New(cfg, command(t, goodTrainer), protocol.HTTPValidators(http.DefaultClient, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	base := time.Now().Add(time.Minute)
	const n = 6
	for i := range n {
		id := fmt.Sprintf("k%d", i)
		if err := start(m, v.request(id, base.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
		waitState(t, m, id, api.JobDone)
	}
	// Job i's deadline is base+i minutes: at base+2m45s, k0..k2 are past
	// theirs by more than 30 s and go; k3..k5 stay.
	miner.SetClock(m, func() time.Time { return base.Add(2*time.Minute + 45*time.Second) })
	miner.Forget(m)
	for i := range n {
		id := fmt.Sprintf("k%d", i)
		_, err := m.TaskStatus(context.Background(), "", id)
		if gone := crucible.ErrorCode(err) == crucible.ENOTFOUND; gone != (i <= 2) {
			t.Errorf("job %s: forgotten %v, want %v (%v)", id, gone, i <= 2, err)
		}
		if _, err := os.Stat(filepath.Join(cfg.WorkDir, "jobs", id)); os.IsNotExist(err) != (i <= 2) {
			t.Errorf("job %s: directory removed %v, want %v", id, os.IsNotExist(err), i <= 2)
		}
	}
}

// A finished job is forgotten, directory and all, once its deadline is
// well past; a job resumed too close to its deadline fails and says why.
func TestJobsForgottenAndLateResume(t *testing.T) {
	v := newFakeValidator(t)
	work := t.TempDir()
	m, stop := runMiner(t, work, command(t, goodTrainer))
	deadline := time.Now().Add(time.Minute)
	if err := start(m, v.request("f1", deadline)); err != nil {
		t.Fatal(err)
	}
	waitState(t, m, "f1", api.JobDone)
	miner.SetClock(m, func() time.Time { return deadline.Add(5 * time.Minute) })
	miner.Forget(m)
	if _, err := m.TaskStatus(context.Background(), "", "f1"); err != nil {
		t.Errorf("a finished job forgotten 5 minutes after its deadline (the default keeps it 10): %v", err)
	}
	miner.SetClock(m, func() time.Time { return deadline.Add(time.Hour) })
	miner.Forget(m)
	if _, err := os.Stat(filepath.Join(work, "jobs", "f1")); !os.IsNotExist(err) {
		t.Errorf("finished job's directory kept: %v", err)
	}
	if _, err := m.TaskStatus(context.Background(), "", "f1"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("forgotten job still answered: %v", err)
	}
	stop()
	// A job stopped in training with two seconds left fails on restart.
	work2 := t.TempDir()
	m4, stop4 := runMiner(t, work2, command(t, "exec sleep 30"))
	if err := start(m4, v.request("f2", time.Now().Add(2*time.Second))); err != nil {
		t.Fatal(err)
	}
	waitState(t, m4, "f2", api.JobTraining)
	stop4()
	m5, _ := runMiner(t, work2, noTraining{t})
	st, err := m5.TaskStatus(context.Background(), "", "f2")
	if err != nil || st.State != api.JobFailed || !strings.Contains(st.Message, "too close to the deadline") {
		t.Fatalf("late resume: %+v %v", st, err)
	}
}
