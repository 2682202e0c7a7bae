package miner

import (
	"fmt"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Config is a miner's configuration. The values DefaultConfig returns are the
// documented defaults.
type Config struct {
	WorkDir  string   `flag:"work-dir" help:"directory for downloads, training runs and results. Defaults to miner in --home"`
	Strategy string   `flag:"strategy" help:"training strategy: auto, a fixed recipe (lora-fast, lora-quality, full), or command"`
	Command  []string `flag:"command" help:"for --strategy command: the program and its arguments (see the miner contract in the README)"`

	MaxJobs        int           `flag:"max-jobs" help:"tasks trained at the same time"`
	MaxQueued      int           `flag:"max-queued" help:"tasks accepted beyond those training"`
	MaxParams      int64         `flag:"max-params" help:"largest base model accepted, in parameters"`
	MinHours       float64       `flag:"min-hours" help:"shortest time budget accepted, in hours"`
	MaxHours       float64       `flag:"max-hours" help:"longest time budget accepted, in hours"`
	TaskTypes      []string      `flag:"task-types" help:"task types accepted"`
	ReserveFor     time.Duration `flag:"reserve-for" help:"how long an accepted offer holds a slot while waiting for start_training"`
	UploadMargin   time.Duration `flag:"upload-margin" help:"time kept free before the deadline for packing and uploading the result"`
	MaxUploadBytes int64         `flag:"max-upload-bytes" help:"largest result this miner will upload"`
}

// DefaultConfig returns the defaults: one job at a time and one queued,
// models up to 2B parameters, budgets from 36 seconds to 12 hours, every
// task type, the automatic strategy.
func DefaultConfig() Config {
	return Config{
		Strategy:       "auto",
		MaxJobs:        1,
		MaxQueued:      1,
		MaxParams:      2_000_000_000,
		MinHours:       0.01,
		MaxHours:       12,
		TaskTypes:      []string{"instruct", "chat", "dpo", "text"},
		ReserveFor:     10 * time.Minute,
		UploadMargin:   15 * time.Second,
		MaxUploadBytes: 20 << 30,
	}
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
	if c.WorkDir == "" {
		return crucible.Errorf(crucible.EINVALID, "work-dir is required")
	}
	for _, t := range c.TaskTypes {
		if _, err := crucible.ParseTaskType(t); err != nil {
			return fmt.Errorf("task-types: %w", err)
		}
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
