package crucible

import (
	"context"
	"time"
)

// Task event kinds.
const (
	EventStatus   = "status"   // the task moved to a new status (appended by TaskService itself)
	EventProgress = "progress" // a progress line, usually one miner's (training step, upload, evaluation)
	EventLog      = "log"      // a free-form line from the validator about the task
)

// TaskEvent is one line in a task's history: status changes and progress
// reports, appended in order. IDs increase across all tasks, so a client
// following a live stream asks for the events after the last ID it saw.
type TaskEvent struct {
	ID         int64          `json:"id"`
	TaskID     string         `json:"task_id"`
	Kind       string         `json:"kind"`             // EventStatus, EventProgress, EventLog
	Hotkey     string         `json:"hotkey,omitempty"` // the miner it is about, if any
	FromStatus TaskStatus     `json:"from_status,omitempty"`
	ToStatus   TaskStatus     `json:"to_status,omitempty"`
	Message    string         `json:"message,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
	CreatedAt  time.Time      `json:"created_at"`
}

// EventFilter selects events in EventService.FindEvents. Zero fields match all.
type EventFilter struct {
	TaskID  string // only this task's events
	AfterID int64  // only events with an ID greater than this
	Kind    string
	Limit   int // at most this many, oldest first; 0 means 1000
}

// EventService stores task events.
type EventService interface {
	// AppendEvent stores e and fills in its ID and CreatedAt. Returns
	// EINVALID when it has no task or kind, ENOTFOUND when the task does not exist.
	AppendEvent(ctx context.Context, e *TaskEvent) error
	// FindEvents returns the events matching f in ID order.
	FindEvents(ctx context.Context, f EventFilter) ([]*TaskEvent, error)
}
