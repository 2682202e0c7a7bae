package benchnet

import (
	"context"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/ml/model"
)

// instant is a miner strategy that does not train: it writes a LoRA adapter
// of the base with small random weights drawn from the miner's number and
// the task, so that each submission is valid, evaluates to a real loss and
// is no near-duplicate of another. It records how long each job took.
type instant struct {
	miner int
	times *trainTimes
}

func (s *instant) Name() string { return "instant" }

func (s *instant) Train(ctx context.Context, job *miner.Job, report func(miner.Progress)) error {
	began := time.Now()
	defer func() { s.times.add(job.TaskID, time.Since(began)) }()
	m, err := model.Load(job.ModelDir)
	if err != nil {
		return fmt.Errorf("instant: %w", err)
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", s.miner, job.TaskID)
	seed := h.Sum64()
	l, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: model.DefaultLoRATargets(m.Config()), Seed: seed, BaseModel: job.Model})
	if err != nil {
		return fmt.Errorf("instant: %w", err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for i, p := range l.Params() {
		l.Params()[i] = p + float32(rng.NormFloat64()*1e-3)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.SaveAdapter(job.OutDir); err != nil {
		return fmt.Errorf("instant: %w", err)
	}
	report(miner.Progress{Fraction: 1, Message: "wrote a random adapter (no training)"})
	return nil
}

// trainTimes is the longest time a miner's strategy took, by task.
type trainTimes struct {
	mu     sync.Mutex
	byTask map[string]time.Duration
}

func (t *trainTimes) add(task string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byTask == nil {
		t.byTask = map[string]time.Duration{}
	}
	t.byTask[task] = max(t.byTask[task], d)
}

// take returns a task's time and forgets it: a task's figures are read
// once, when it has ended.
func (t *trainTimes) take(task string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.byTask[task]
	delete(t.byTask, task)
	return d
}
