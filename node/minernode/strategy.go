package minernode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/tuning"
)

// tuningStrategy trains with crucible's own engine: the automatic strategy
// or a named recipe.
type tuningStrategy struct {
	recipe tuning.Recipe
	seed   uint64
	log    *slog.Logger
}

func (s *tuningStrategy) Name() string { return s.recipe.Name }

// Method names the recipe and, as its version, a hash of its settings, so
// that two miners on the same recipe enter the same method.
func (s *tuningStrategy) Method() crucible.Method {
	b, _ := json.Marshal(s.recipe)
	sum := sha256.Sum256(b)
	return crucible.Method{Strategy: s.recipe.Name, Version: "recipe-" + hex.EncodeToString(sum[:8])}
}

func (s *tuningStrategy) Train(ctx context.Context, job *miner.Job, report func(miner.Progress)) error {
	spec := tuning.Spec{
		ModelDir: job.ModelDir, BaseModel: job.Model, DataPath: job.DataPath, TaskType: job.TaskType,
		Mapping: job.Mapping, Rewards: job.Rewards, OutDir: job.OutDir, Deadline: job.Deadline, Budget: job.Budget, ComputeRate: job.ComputeRate, Recipe: withHints(s.recipe, job.Hints), Seed: s.seed,
		WorkDir: job.OutDir + ".work",
	}
	if s.log != nil {
		spec.Log = func(msg string) { s.log.Info(msg, "task", job.TaskID) }
	}
	_, err := tuning.Train(ctx, spec, func(p tuning.Progress) {
		report(miner.Progress{Fraction: p.Fraction, Step: p.Step, Loss: p.Loss, Reward: p.Reward, Message: p.Message})
	})
	return err
}

// NewStrategy builds the strategy a miner's configuration names: "auto", a
// named recipe (crucible's engine, seeded with seed), "torch" (PyTorch
// through crucible_torch: a Python with torch is found now, so a missing
// one fails at start) or "command" (an external trainer, looked up now
// too). "adaptive" needs its history: NewAdaptive.
func NewStrategy(cfg miner.Config, seed uint64, log *slog.Logger) (miner.Strategy, error) {
	if cfg.Strategy == "torch" {
		return newTorchStrategy(context.Background(), cfg.Python, filepath.Join(cfg.WorkDir, "torch"), cfg.TorchArgs, log)
	}
	if cfg.Strategy == "command" {
		if len(cfg.Command) == 0 {
			return nil, crucible.Errorf(crucible.EINVALID, "--strategy command needs --command PROGRAM")
		}
		// The trainer runs in each task's directory: find it now, and make
		// a relative path absolute, so that a typo fails at start and
		// "./train.sh" still names the file next to the operator.
		argv := slices.Clone(cfg.Command)
		path, err := exec.LookPath(argv[0])
		if err != nil {
			return nil, crucible.Errorf(crucible.EINVALID, "--command %q: no such executable program", argv[0]).
				WithHint("give the trainer's path (an executable file) or a program on PATH")
		}
		if strings.ContainsRune(argv[0], filepath.Separator) || strings.ContainsRune(argv[0], '/') {
			if argv[0], err = filepath.Abs(path); err != nil {
				return nil, err
			}
		}
		return &miner.CommandStrategy{Argv: argv}, nil
	}
	if cfg.Strategy == "adaptive" {
		return nil, crucible.Errorf(crucible.EINVALID, "the adaptive strategy keeps a history: open it with NewAdaptive")
	}
	r, err := tuning.NamedRecipe(cfg.Strategy)
	if err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "--strategy: %v", err).
			WithHint(fmt.Sprintf("use one of %v, adaptive, torch or command", tuning.RecipeNames()))
	}
	return &tuningStrategy{recipe: r, seed: seed, log: log}, nil
}

// withHints fills the fields a recipe leaves to automatic choice with the
// customer's hints; what the recipe fixes stays (a miner's recipe is its
// edge, and the hidden test split decides whether following hints pays).
func withHints(r tuning.Recipe, h *crucible.Hints) tuning.Recipe {
	if h.Empty() {
		return r
	}
	if r.LoRA == nil && h.LoRA != nil {
		lora := *h.LoRA
		r.LoRA = &lora
	}
	if r.LoRARank == 0 && h.LoRARank > 0 && (r.LoRA == nil || *r.LoRA) {
		r.LoRARank = h.LoRARank
	}
	if r.LR == 0 {
		r.LR = h.LR
	}
	if r.Epochs == 0 {
		r.Epochs = h.Epochs
	}
	if r.BatchSize == 0 {
		r.BatchSize = h.BatchSize
	}
	if r.MaxLength == 0 {
		r.MaxLength = h.MaxLength
	}
	return r
}
