package minernode

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/tuning"
)

// torchStrategy trains with crucible_torch, the miner contract's trainer on
// PyTorch: on the GPUs when there are any (one process per GPU under
// torchrun when there are several), on the CPU otherwise.
type torchStrategy struct {
	rt   *torch.Runtime
	args []string
	log  *slog.Logger
}

// newTorchStrategy finds a Python with PyTorch (python, or the usual
// interpreters when empty), extracts crucible_torch under dir, and says
// what it found; a missing PyTorch fails here, at the miner's start.
func newTorchStrategy(ctx context.Context, python, dir string, args []string, log *slog.Logger) (*torchStrategy, error) {
	rt, err := torch.Find(ctx, python, dir)
	if err != nil {
		return nil, fmt.Errorf("--strategy torch: %w", err)
	}
	if log != nil {
		log.Info("torch strategy", "python", rt.Python, "runtime", rt.Info.String())
	}
	return &torchStrategy{rt: rt, args: args, log: log}, nil
}

func (s *torchStrategy) Name() string { return "torch" }

func (s *torchStrategy) Train(ctx context.Context, job *miner.Job, report func(miner.Progress)) error {
	j := *job
	if j.TokensPath == "" {
		// The validator sent no token file: write one from the JSONL split
		// exactly as a validator does (the time counts against the budget).
		report(miner.Progress{Message: "tokenizing the train split"})
		out := filepath.Join(filepath.Dir(j.OutDir), "train.tokens.safetensors")
		if _, _, err := tuning.Tokenize(ctx, tuning.TokenizeSpec{ModelDir: j.ModelDir, DataPath: j.DataPath, TaskType: j.TaskType,
			Mapping: j.Mapping, OutPath: out, MaxLength: tuning.EvalMaxLength}); err != nil {
			return fmt.Errorf("tokenize the train split: %w", err)
		}
		j.TokensPath = out
	}
	gpus := s.rt.Info.GPUs
	cmd := &miner.CommandStrategy{
		Argv:        s.rt.TrainArgv(gpus, s.args...),
		Env:         append(s.rt.ExtraEnv(), "CRUCIBLE_GPUS="+strconv.Itoa(gpus)),
		GracePeriod: 10 * time.Second,
		Label:       "crucible_torch",
	}
	return cmd.Train(ctx, &j, report)
}
