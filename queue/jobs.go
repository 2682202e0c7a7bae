package queue

import (
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// ActiveStates are the job states in which a unique job blocks a duplicate:
// everything until the job has finished. A completed, cancelled or discarded
// job no longer blocks a new one with the same arguments.
var ActiveStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled,
}

// UniqueWhileActive is the insert option for "at most one such job at a
// time": a second insert with the same kind and arguments while the first is
// waiting, running or retrying is skipped (JobInsertResult.UniqueSkippedAsDuplicate).
func UniqueWhileActive() river.UniqueOpts {
	return river.UniqueOpts{ByArgs: true, ByState: ActiveStates}
}

// AdvanceTaskArgs is the job that moves one task along its lifecycle: its
// worker reads the task, does the work its status calls for and saves the
// next status. Whoever changes a task from outside (the API creating or
// cancelling it) inserts one in the same transaction as the change. Its
// insert options make it unique per task while active, so a task never has
// two at once; because the running job itself counts, a worker that wants
// to run again later returns river.JobSnooze(d) instead of inserting a
// successor.
type AdvanceTaskArgs struct {
	TaskID string `json:"task_id"`
}

// Kind implements river.JobArgs.
func (AdvanceTaskArgs) Kind() string { return "advance_task" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique per task while active.
func (AdvanceTaskArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: UniqueWhileActive()}
}

// AdvanceTournamentArgs is the job that moves one tournament along its
// lifecycle (validator.Validator.TournamentStep), unique per tournament
// while active like AdvanceTaskArgs. Announcing a tournament inserts it in
// the transaction that stores the tournament.
type AdvanceTournamentArgs struct {
	TournamentID string `json:"tournament_id"`
}

// Kind implements river.JobArgs.
func (AdvanceTournamentArgs) Kind() string { return "advance_tournament" }

// InsertOpts implements river.JobArgsWithInsertOpts: unique per tournament while active.
func (AdvanceTournamentArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: UniqueWhileActive()}
}
