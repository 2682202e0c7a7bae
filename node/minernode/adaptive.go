package minernode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/crucible-net/crucible/adaptive"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/dataprep"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/tuning"
)

// AdaptiveVersion names the adaptive strategy's method: the search and
// its space. Change it when either changes, so that tournaments tell the
// methods apart.
const AdaptiveVersion = "adaptive-2"

// AdaptiveStrategy is the strategy of a miner that learns: before each
// task it reads what the validator published since its last task (its own
// scores, and every miner's recipe with its test loss), then chooses the
// recipe by Bayesian optimisation over everything it knows (package
// adaptive), trains it with crucible's engine and records the trial in a
// history that survives restarts.
type AdaptiveStrategy struct {
	hist   *adaptive.History
	space  adaptive.Space
	seed   uint64
	hotkey string // this miner's: its lines in published results are its own trials
	log    *slog.Logger
	// maxSteps, when set, caps every run's optimizer steps (Config.MaxSteps).
	maxSteps int
}

// NewAdaptive opens the adaptive strategy with its history at path.
func NewAdaptive(path string, seed uint64, log *slog.Logger) (*AdaptiveStrategy, error) {
	h, err := adaptive.OpenHistory(path)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &AdaptiveStrategy{hist: h, seed: seed, log: log,
		space: adaptive.Space{BaseLR: func(params int64, full bool, t crucible.TaskType) float64 {
			return tuning.DefaultLR(params, !full, t)
		}}}, nil
}

// SetHotkey tells the strategy which miner it trains for.
func (s *AdaptiveStrategy) SetHotkey(hotkey string) { s.hotkey = hotkey }

// History is the strategy's history.
func (s *AdaptiveStrategy) History() *adaptive.History { return s.hist }

// Name implements miner.Strategy.
func (s *AdaptiveStrategy) Name() string { return "adaptive" }

// Method names the adaptive strategy's method for tournaments.
func (s *AdaptiveStrategy) Method() crucible.Method {
	return crucible.Method{Strategy: "adaptive", Version: AdaptiveVersion}
}

// Train implements miner.Strategy.
func (s *AdaptiveStrategy) Train(ctx context.Context, job *miner.Job, report func(miner.Progress)) error {
	report(miner.Progress{Message: "reading the published results"})
	if err := s.Learn(ctx, job.Validator, job.Results); err != nil {
		// Learning is best effort: a validator that cannot be read now is
		// read again before the next task.
		s.log.Warn("adaptive: reading the published results", "validator", job.Validator, "err", err)
	}
	f, err := s.features(job)
	if err != nil {
		return err
	}
	prop := s.space.Propose(f, s.hist.Trials(), s.seedFor(job.TaskID))
	s.log.Info("adaptive: recipe chosen", "task", job.TaskID, "params", prop.Params.String(), "why", prop.Reason)
	report(miner.Progress{Message: "adaptive: " + prop.Params.String()})
	trial := adaptive.Trial{ID: job.TaskID, TaskID: job.TaskID, Own: true, Hotkey: s.hotkey, Validator: job.Validator, Strategy: "adaptive",
		At: time.Now().UTC(), Features: f, Params: prop.Params, Reason: prop.Reason}
	if err := s.hist.Put(trial); err != nil {
		return err
	}
	spec := tuning.Spec{
		ModelDir: job.ModelDir, BaseModel: job.Model, DataPath: job.DataPath, TaskType: job.TaskType,
		Mapping: job.Mapping, Rewards: job.Rewards, OutDir: job.OutDir, Deadline: job.Deadline, Budget: job.Budget, ComputeRate: job.ComputeRate, Recipe: RecipeOf(prop.Params),
		Seed: s.seed, WorkDir: job.OutDir + ".work",
		Log: func(msg string) { s.log.Info(msg, "task", job.TaskID) },
	}
	if s.maxSteps > 0 {
		spec.Recipe.MaxSteps = s.maxSteps
	}
	res, err := tuning.Train(ctx, spec, func(p tuning.Progress) {
		report(miner.Progress{Fraction: p.Fraction, Step: p.Step, Loss: p.Loss, Reward: p.Reward, Message: p.Message})
	})
	if err != nil {
		trial.Outcome = &adaptive.Outcome{Failure: err.Error()}
		if perr := s.hist.Put(trial); perr != nil {
			s.log.Warn("adaptive: recording a failed trial", "err", perr)
		}
		return err
	}
	// The trial is what ran: a time budget that cut the epochs also sized
	// the schedule to the steps that fit, so the run was one of that many
	// epochs (as its published training.json says to everyone else).
	if res.Train != nil && res.Train.Epochs >= 0.01 {
		trial.Params.Epochs = math.Round(res.Train.Epochs*100) / 100
	}
	// Until the validator publishes the test loss, the run's own
	// validation is the estimate.
	trial.Outcome = proxyOutcome(res)
	return s.hist.Put(trial)
}

// proxyOutcome is a finished run's estimate of how it did: its held-out
// validation against the same slice before training.
func proxyOutcome(res *tuning.Result) *adaptive.Outcome {
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	o := &adaptive.Outcome{Proxy: true}
	if g := res.GRPO; g != nil {
		if finite(g.ValReward) && finite(g.InitialValReward) {
			r, b := g.ValReward, g.InitialValReward
			o.Reward, o.BaseReward = &r, &b
		}
		return o
	}
	if tr := res.Train; tr != nil && finite(tr.ValLoss) && finite(tr.InitialValLoss) {
		l, b := tr.ValLoss, tr.InitialValLoss
		o.Loss, o.BaseLoss = &l, &b
	}
	return o
}

// RecipeOf turns the search's params into an engine recipe.
func RecipeOf(p adaptive.Params) tuning.Recipe {
	lora := !p.Full
	r := tuning.Recipe{Name: "adaptive", LoRA: &lora, LR: p.LR, Epochs: p.Epochs, Schedule: p.Schedule}
	if lora {
		r.LoRARank, r.LoRAAlpha = p.LoRARank, float64(2*p.LoRARank)
	}
	// At most 16 sequences a micro-batch; the rest by accumulation.
	r.BatchSize = min(p.Batch, 16)
	r.GradAccum = max(1, (p.Batch+r.BatchSize-1)/r.BatchSize)
	minLR, warmup := p.MinLRRatio, p.Warmup
	r.MinLRRatio, r.WarmupRatio = &minLR, &warmup
	return r
}

// features describes the job's task for the search.
func (s *AdaptiveStrategy) features(job *miner.Job) (adaptive.Features, error) {
	params, err := dataprep.CountParams(job.ModelDir)
	if err != nil {
		return adaptive.Features{}, err
	}
	rows, err := countLines(job.DataPath)
	if err != nil {
		return adaptive.Features{}, fmt.Errorf("adaptive: count the train split's rows: %w", err)
	}
	return adaptive.Features{Model: job.Model, Params: params, Type: job.TaskType, Rows: rows,
		Budget: budgetSeconds(job.HoursToComplete), Dataset: job.DataSHA256}, nil
}

// budgetSeconds is a task's training budget as the search sees it (the
// task's hours, the same for every miner of the task, and what the
// published results say of others' tasks).
func budgetSeconds(hours float64) float64 { return math.Round(hours * 3600) }

// seedFor derives the proposal's seed from the miner's seed and the task,
// keeping the miner's seed modulo 4: with no history the search starts
// from the initial recipe that number picks, so miners seeded 1, 2, 3, 4
// start from four different recipes.
func (s *AdaptiveStrategy) seedFor(taskID string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(taskID))
	return s.seed + 4*h.Sum64()
}

// countLines counts the non-empty lines of a JSONL file.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	n := 0
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return n, err
	}
	return n, nil
}
