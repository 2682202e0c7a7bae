package crucible

import (
	"context"
	"time"
)

// Score is one miner's result on one finished task, the input to weights.
type Score struct {
	TaskID       string    `json:"task_id"`
	Hotkey       string    `json:"hotkey"`
	TaskType     TaskType  `json:"task_type"`
	IsOrganic    bool      `json:"is_organic"`
	QualityScore float64   `json:"quality_score"` // per-task score from the scoring spec (e.g. 3, 0 or -1)
	Work         float64   `json:"work"`          // task weight from hours and model size
	TestLoss     *float64  `json:"test_loss,omitempty"`
	SpecVersion  string    `json:"spec_version"` // the scoring spec that produced it
	CreatedAt    time.Time `json:"created_at"`
}

// ScoreService stores per-task scores.
type ScoreService interface {
	// AddScores stores the scores of one task in one transaction.
	AddScores(ctx context.Context, scores []*Score) error
	// FindScoresSince returns every score created at or after t.
	FindScoresSince(ctx context.Context, t time.Time) ([]*Score, error)
}
