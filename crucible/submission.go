package crucible

import (
	"context"
	"time"
)

// Submission is one miner's part in a task: from the accepted offer through
// the uploaded result to its evaluation.
type Submission struct {
	TaskID       string     `json:"task_id"`
	Hotkey       string     `json:"hotkey"`        // the miner's SS58 hotkey
	ExpectedName string     `json:"expected_name"` // the unique result name the validator asked for
	ResultKey    string     `json:"result_key,omitempty"`
	ResultSHA256 string     `json:"result_sha256,omitempty"` // hash of what the validator received
	IsAdapter    bool       `json:"is_adapter"`              // a PEFT adapter rather than a full model
	StartedAt    *time.Time `json:"started_at,omitempty"`    // when the miner acknowledged start_training
	UploadedAt   *time.Time `json:"uploaded_at,omitempty"`
	TestLoss     *float64   `json:"test_loss,omitempty"` // nil until evaluated
	// Reward is a grpo task's evaluation (nil until evaluated; TestLoss
	// stays nil for grpo).
	Reward       *RewardResult `json:"reward,omitempty"`
	QualityScore *float64      `json:"quality_score,omitempty"`
	Failure      string        `json:"failure,omitempty"` // why it failed (not started, no upload, not a fine-tune, ...); empty while it stands
	Reason       string        `json:"reason,omitempty"`  // why it scored what it did
	CreatedAt    time.Time     `json:"created_at"`
}

// Evaluated reports whether the submission has a test loss (a grpo
// task's: a reward).
func (s *Submission) Evaluated() bool { return s.TestLoss != nil || s.Reward != nil }

// Settled reports whether evaluation is done with the submission: it is
// evaluated or has failed.
func (s *Submission) Settled() bool { return s.Evaluated() || s.Failure != "" }

// SubmissionService stores submissions.
type SubmissionService interface {
	// CreateSubmission records that a miner accepted a task. Returns ECONFLICT
	// when the miner already has a submission for the task.
	CreateSubmission(ctx context.Context, s *Submission) error
	// FindSubmission returns one miner's submission. Returns ENOTFOUND.
	FindSubmission(ctx context.Context, taskID, hotkey string) (*Submission, error)
	// FindSubmissions returns every submission for a task.
	FindSubmissions(ctx context.Context, taskID string) ([]*Submission, error)
	// UpdateSubmission saves s. Returns ENOTFOUND.
	UpdateSubmission(ctx context.Context, s *Submission) error
}
