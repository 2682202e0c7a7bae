package crucible

import "slices"

// TaskStatus is a step in a task's lifecycle.
type TaskStatus string

// The lifecycle. The happy path is pending → preparing_data →
// looking_for_nodes → ready → training → preevaluation → evaluating → success.
const (
	StatusPending             TaskStatus = "pending"               // accepted from the customer, nothing done yet
	StatusPreparingData       TaskStatus = "preparing_data"        // loading, mapping and splitting the dataset
	StatusPrepTaskFailure     TaskStatus = "prep_task_failure"     // the dataset or model could not be prepared (terminal)
	StatusLookingForNodes     TaskStatus = "looking_for_nodes"     // offering the task to miners
	StatusDelayed             TaskStatus = "delayed"               // no miner accepted yet; will look again later
	StatusFailureFindingNodes TaskStatus = "failure_finding_nodes" // no miner accepted after every retry (terminal)
	StatusReady               TaskStatus = "ready"                 // miners chosen, about to start
	StatusTraining            TaskStatus = "training"              // miners are training
	StatusPreevaluation       TaskStatus = "preevaluation"         // the deadline passed; collecting submissions
	StatusEvaluating          TaskStatus = "evaluating"            // evaluating submissions on the hidden test split
	StatusSuccess             TaskStatus = "success"               // a winner was chosen (terminal)
	StatusFailure             TaskStatus = "failure"               // training or evaluation failed (terminal)
	StatusCancelled           TaskStatus = "cancelled"             // cancelled by the customer or an operator (terminal)
)

// Statuses lists every status in lifecycle order.
var Statuses = []TaskStatus{
	StatusPending, StatusPreparingData, StatusPrepTaskFailure, StatusLookingForNodes,
	StatusDelayed, StatusFailureFindingNodes, StatusReady, StatusTraining,
	StatusPreevaluation, StatusEvaluating, StatusSuccess, StatusFailure, StatusCancelled,
}

// Transitions is the lifecycle as data: for each status, the statuses it may
// move to. Terminal statuses have none. Every non-terminal status may be
// cancelled. A task may fall back from evaluating to preevaluation so that an
// evaluation interrupted by a restart is redone from its collected submissions.
var Transitions = map[TaskStatus][]TaskStatus{
	StatusPending:             {StatusPreparingData, StatusCancelled},
	StatusPreparingData:       {StatusLookingForNodes, StatusPrepTaskFailure, StatusCancelled},
	StatusPrepTaskFailure:     nil,
	StatusLookingForNodes:     {StatusReady, StatusDelayed, StatusFailureFindingNodes, StatusCancelled},
	StatusDelayed:             {StatusLookingForNodes, StatusFailureFindingNodes, StatusCancelled},
	StatusFailureFindingNodes: nil,
	StatusReady:               {StatusTraining, StatusCancelled},
	StatusTraining:            {StatusPreevaluation, StatusFailure, StatusCancelled},
	StatusPreevaluation:       {StatusEvaluating, StatusFailure, StatusCancelled},
	StatusEvaluating:          {StatusSuccess, StatusFailure, StatusPreevaluation, StatusCancelled},
	StatusSuccess:             nil,
	StatusFailure:             nil,
	StatusCancelled:           nil,
}

// Valid reports whether s is a known status.
func (s TaskStatus) Valid() bool {
	_, ok := Transitions[s]
	return ok
}

// Terminal reports whether s is a final status.
func (s TaskStatus) Terminal() bool {
	return s.Valid() && len(Transitions[s]) == 0
}

// CanTransition reports whether a task may move from s to next.
func (s TaskStatus) CanTransition(next TaskStatus) bool {
	return slices.Contains(Transitions[s], next)
}

// CheckTransition returns an ECONFLICT error when the move from s to next is
// not allowed, and an EINVALID error when either status is unknown.
func CheckTransition(from, to TaskStatus) error {
	if !from.Valid() {
		return Errorf(EINVALID, "unknown task status %q", from)
	}
	if !to.Valid() {
		return Errorf(EINVALID, "unknown task status %q", to)
	}
	if !from.CanTransition(to) {
		return Errorf(ECONFLICT, "a task cannot move from %s to %s", from, to)
	}
	return nil
}
