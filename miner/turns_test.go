package miner

import (
	"context"
	"sync"
	"testing"
	"time"
)

// recording is a strategy that notes when it trained and with what
// deadline.
type recording struct {
	mu    sync.Mutex
	spans [][2]time.Time
	dls   []time.Time
}

func (r *recording) Name() string { return "rec" }

func (r *recording) Train(ctx context.Context, job *Job, _ func(Progress)) error {
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	r.mu.Lock()
	r.spans = append(r.spans, [2]time.Time{start, time.Now()})
	d, _ := ctx.Deadline()
	r.dls = append(r.dls, d)
	r.mu.Unlock()
	return nil
}

func TestTurnsTrainOneAtATime(t *testing.T) {
	turns := NewTurns(time.Minute)
	rec := &recording{}
	s := turns.Wrap(rec)
	if s.Name() != "rec" || s.(MethodStrategy).Method().Strategy != "rec" {
		t.Errorf("wrapped name %q", s.Name())
	}
	far := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Train(context.Background(), &Job{Deadline: far}, func(Progress) {}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(rec.spans) != 4 {
		t.Fatalf("%d runs", len(rec.spans))
	}
	for i, a := range rec.spans {
		for j, b := range rec.spans {
			if i != j && a[0].Before(b[1]) && b[0].Before(a[1]) {
				t.Fatalf("runs %d and %d overlap: %v / %v", i, j, a, b)
			}
		}
		// Each had the turn's budget from its start, not the job's far
		// deadline.
		if d := rec.dls[i].Sub(a[0]); d > time.Minute || d < 59*time.Second {
			t.Errorf("run %d had %s, want the turn's minute", i, d)
		}
	}
	// A job whose own deadline comes first keeps it.
	soon := time.Now().Add(10 * time.Second)
	if err := s.Train(context.Background(), &Job{Deadline: soon}, func(Progress) {}); err != nil {
		t.Fatal(err)
	}
	if got := rec.dls[4]; !got.Equal(soon) {
		t.Errorf("deadline %v, want the job's %v", got, soon)
	}
	// Waiting ends with the job's context.
	hold := make(chan struct{})
	turns.slot <- struct{}{}
	go func() { <-hold; <-turns.slot }()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Train(ctx, &Job{Deadline: far}, func(Progress) {}); err == nil {
		t.Error("a canceled job trained")
	}
	close(hold)
}

// jobs records the jobs a strategy was given.
type jobs struct{ got []Job }

func (j *jobs) Name() string { return "jobs" }

func (j *jobs) Train(_ context.Context, job *Job, _ func(Progress)) error {
	j.got = append(j.got, *job)
	return nil
}

// On a compute clock the turn hands the strategy its budget as compute and
// bounds the real time by ComputeSlack times it.
func TestTurnsComputeBudget(t *testing.T) {
	turns := NewTurns(time.Minute)
	turns.ComputeRate = 150
	rec := &jobs{}
	far := time.Now().Add(time.Hour)
	before := time.Now()
	if err := turns.Wrap(rec).Train(context.Background(), &Job{Deadline: far}, func(Progress) {}); err != nil {
		t.Fatal(err)
	}
	j := rec.got[0]
	if j.Budget != time.Minute || j.ComputeRate != 150 {
		t.Errorf("job budget %s at %g GFLOP/s", j.Budget, j.ComputeRate)
	}
	if d := j.Deadline.Sub(before); d < ComputeSlack*time.Minute-time.Second || d > ComputeSlack*time.Minute+time.Second {
		t.Errorf("real limit %s, want %d minutes", d, ComputeSlack)
	}
	// On the wall clock the job carries no compute budget.
	turns.ComputeRate = 0
	turns.Wrap(rec).Train(context.Background(), &Job{Deadline: far}, func(Progress) {})
	if j := rec.got[1]; j.Budget != 0 || j.ComputeRate != 0 || j.Deadline.Sub(before) > time.Minute+time.Second {
		t.Errorf("wall-clock job %+v", j)
	}
}
