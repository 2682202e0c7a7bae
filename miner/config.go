package miner

import (
	"fmt"
	"time"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Config is a miner's configuration. Each field's doc comment is its
// documentation and states its default (package config).
type Config struct {
	// WorkDir is the directory for downloads, training runs and results.
	// Required; a miner node puts it in its state directory.
	WorkDir string `flag:"work-dir"`
	// Strategy is how the miner trains: auto (every hyperparameter chosen
	// from the model, data and budget), adaptive (a recipe chosen from the
	// miner's history and the recipes other miners published, by Bayesian
	// optimisation), a fixed recipe (lora-fast, lora-quality, lora-small,
	// full, full-short), torch (PyTorch through crucible_torch, on the GPUs
	// when there are any), or command (an external trainer). Defaults to
	// `auto`.
	Strategy string `flag:"strategy"`
	// Command is, for --strategy command, the trainer program and its
	// arguments (see the miner contract in the README).
	Command []string `flag:"command"`
	// Python is, for --strategy torch, the Python interpreter with PyTorch.
	// Empty: the first of python3 on PATH, /usr/bin/python3 and
	// /usr/local/bin/python3 that imports torch.
	Python string `flag:"python"`
	// TorchArgs are, for --strategy torch, extra arguments of
	// crucible_torch train (e.g. --mode,lora,--lr,1e-4; see python3 -m
	// crucible_torch train --help).
	TorchArgs []string `flag:"torch-args"`
	// MaxJobs is how many tasks are trained at the same time. Defaults to
	// `1`.
	MaxJobs int `flag:"max-jobs"`
	// MaxQueued is how many tasks are accepted beyond those training.
	// Defaults to `1`.
	MaxQueued int `flag:"max-queued"`
	// MaxParams is the largest base model accepted, in parameters. Defaults
	// to `2000000000`.
	MaxParams int64 `flag:"max-params"`
	// MinHours is the shortest time budget accepted, in hours. Defaults to
	// `0.01`.
	MinHours float64 `flag:"min-hours"`
	// MaxHours is the longest time budget accepted, in hours. Defaults to
	// `12`.
	MaxHours float64 `flag:"max-hours"`
	// TaskTypes are the task types accepted. Defaults to
	// `instruct,chat,dpo,text,grpo`.
	TaskTypes []string `flag:"task-types"`
	// ReserveFor is how long an accepted offer holds a slot while the miner
	// waits for start_training. Defaults to `10m`.
	ReserveFor time.Duration `flag:"reserve-for"`
	// KeepFinished is how long after its deadline a finished job is kept
	// (its status still answered, its directory on disk) before it is
	// forgotten. Defaults to `10m`.
	KeepFinished time.Duration `flag:"keep-finished"`
	// UploadMargin is the time kept free before the deadline for packing
	// and uploading the result. Defaults to `15s`.
	UploadMargin time.Duration `flag:"upload-margin"`
	// MaxUploadBytes is the largest result this miner will upload. Defaults
	// to `21474836480`.
	MaxUploadBytes int64 `flag:"max-upload-bytes"`
	// NoTournaments ignores tournament announcements; by default the miner
	// enters every tournament it is told of whose fee is within MaxFee.
	NoTournaments bool `flag:"no-tournaments"`
	// MaxFee is the largest tournament entry fee, in TAO, the miner agrees
	// to pay (charged from its stake on a local chain).
	MaxFee float64 `flag:"max-fee"`
	// MethodImage is the container image digest of an external trainer,
	// declared with the method the miner enters tournaments with.
	MethodImage string `flag:"method-image"`
	// MethodCommit is the repository commit of an external trainer,
	// declared with the method the miner enters tournaments with (the
	// command strategy's method is otherwise the hash of its program file).
	MethodCommit string `flag:"method-commit"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	var c Config
	config.Defaults(&c)
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.MaxJobs < 1 {
		return crucible.Errorf(crucible.EINVALID, "max-jobs must be at least 1, got %d", c.MaxJobs)
	}
	if c.MaxQueued < 0 {
		return crucible.Errorf(crucible.EINVALID, "max-queued must not be negative, got %d", c.MaxQueued)
	}
	if c.MinHours < 0 || c.MaxHours < c.MinHours {
		return crucible.Errorf(crucible.EINVALID, "hours range [%g, %g] is empty", c.MinHours, c.MaxHours)
	}
	if c.KeepFinished < 0 {
		return crucible.Errorf(crucible.EINVALID, "keep-finished must not be negative, got %s", c.KeepFinished)
	}
	if c.WorkDir == "" {
		return crucible.Errorf(crucible.EINVALID, "work-dir is required")
	}
	for _, t := range c.TaskTypes {
		if _, err := crucible.ParseTaskType(t); err != nil {
			return fmt.Errorf("task-types: %w", err)
		}
	}
	if c.MaxFee < 0 {
		return crucible.Errorf(crucible.EINVALID, "max-fee must not be negative, got %g", c.MaxFee)
	}
	if c.Strategy == "command" && len(c.Command) == 0 {
		return crucible.Errorf(crucible.EINVALID, "--strategy command needs --command PROGRAM[,ARGS...]")
	}
	return nil
}

func (c *Config) acceptsType(t crucible.TaskType) bool {
	for _, s := range c.TaskTypes {
		if crucible.TaskType(s) == t {
			return true
		}
	}
	return false
}
