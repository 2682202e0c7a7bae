package api

import (
	"encoding/json"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// ExperimentResults is the file an experiment writes beside its report
// (results.json): every number, the command, versions and the machine. It
// is written after every step, so that an interrupted experiment resumes
// from it and the dashboard shows it (ExperimentPage).
type ExperimentResults struct {
	Kind     string `json:"kind"` // ExperimentSeries or ExperimentPlatforms
	Title    string `json:"title"`
	Finished bool   `json:"finished"`
	// Command is the command line that ran it; Settings its settings.
	Command  string          `json:"command"`
	Settings json.RawMessage `json:"settings"`
	Version  string          `json:"version"`
	Machine  Machine         `json:"machine"`
	Started  time.Time       `json:"started"`
	Updated  time.Time       `json:"updated"`
	// Seconds is the wall time the experiment has run, over every
	// (resumed) attempt.
	Seconds float64 `json:"seconds"`

	Model   string `json:"model"`
	Dataset string `json:"dataset"`
	// MinersMode is how the miners shared the machine (parallel or
	// sequential); Budget each miner's training time in seconds.
	MinersMode string   `json:"miners_mode"`
	Miners     []string `json:"miners"`
	Budget     float64  `json:"budget_s"`
	// BudgetClock is what the budget measured: "compute" (work at a
	// nominal ComputeRate GFLOP/s, whatever the machine's load) or "wall"
	// (real time; empty in results written before the compute clock).
	BudgetClock string  `json:"budget_clock,omitempty"`
	ComputeRate float64 `json:"compute_rate_gflops,omitempty"`
	// TestRows and TestSHA256 describe the hidden test split every number
	// is measured on; BaseLoss is the base model's loss on it.
	TestRows   int      `json:"test_rows,omitempty"`
	TestSHA256 string   `json:"test_sha256,omitempty"`
	BaseLoss   *float64 `json:"base_loss,omitempty"`

	// Rounds are a series' competitions, in order; Pending the task of a
	// round that was running when the experiment stopped.
	Rounds  []ExperimentRound `json:"rounds,omitempty"`
	Pending string            `json:"pending_task,omitempty"`
	// Reference is a series' reference line: the base tuned on another
	// instruct dataset, evaluated on this one's hidden split.
	Reference *ExperimentRun `json:"reference,omitempty"`
	// Runs are a platform comparison's single runs (each platform recipe,
	// crucible train --recipe auto), each with one miner's compute.
	Runs []ExperimentRun `json:"runs,omitempty"`

	Targets []ExperimentTarget `json:"targets,omitempty"`
	// Charts are the chart files in the report's folder (SVG and PNG).
	Charts []string `json:"charts,omitempty"`
	// Notes are what a reader must know to read the numbers (load on the
	// machine, what was not reproduced).
	Notes []string `json:"notes,omitempty"`
}

// Experiment kinds.
const (
	ExperimentSeries    = "series"
	ExperimentPlatforms = "platforms"
)

// Machine is where an experiment ran.
type Machine struct {
	CPU      string    `json:"cpu"`
	Features string    `json:"features,omitempty"`
	Cores    int       `json:"cores"`
	OS       string    `json:"os"`
	Go       string    `json:"go"`
	Load     []float64 `json:"load,omitempty"` // the 1-minute load average when each step started
}

// ExperimentRound is one competition of a series.
type ExperimentRound struct {
	Round      int                `json:"round"`
	TaskID     string             `json:"task_id"`
	Status     string             `json:"status"`
	Winner     string             `json:"winner,omitempty"` // the winning miner's name
	WinnerLoss *float64           `json:"winner_loss,omitempty"`
	BaseLoss   *float64           `json:"base_loss,omitempty"`
	Miners     []ExperimentMiner  `json:"miners"`
	Seconds    float64            `json:"seconds"`
	Load       float64            `json:"load"` // 1-minute load average when the round started
	Finished   time.Time          `json:"finished"`
	Extra      map[string]float64 `json:"extra,omitempty"`
}

// ExperimentMiner is one miner's part in a round.
type ExperimentMiner struct {
	Name     string                    `json:"name"`
	Hotkey   string                    `json:"hotkey"`
	Strategy string                    `json:"strategy"`
	Loss     *float64                  `json:"loss,omitempty"`
	Rank     int                       `json:"rank,omitempty"`
	Failure  string                    `json:"failure,omitempty"`
	Training *crucible.TrainingSummary `json:"training,omitempty"`
	// Choice is why an adaptive miner chose its recipe.
	Choice string `json:"choice,omitempty"`
}

// ExperimentRun is one training run outside the network (a platform
// recipe, crucible train --recipe auto, the reference), or the network's
// winner, evaluated on the same hidden split.
type ExperimentRun struct {
	Name     string                    `json:"name"`
	Title    string                    `json:"title"`
	Sources  []string                  `json:"sources,omitempty"`
	Recipe   json.RawMessage           `json:"recipe,omitempty"`
	Data     string                    `json:"data,omitempty"` // what it trained on
	Loss     *float64                  `json:"loss,omitempty"`
	Failure  string                    `json:"failure,omitempty"`
	Training *crucible.TrainingSummary `json:"training,omitempty"`
	Stop     string                    `json:"stop,omitempty"`
	Seconds  float64                   `json:"seconds"`
	Load     float64                   `json:"load"`
}

// ExperimentTarget is one of the targets an experiment checks, and whether
// it was met.
type ExperimentTarget struct {
	Name   string `json:"name"`
	Met    bool   `json:"met"`
	Detail string `json:"detail"`
}
