package crucible

import (
	"context"
	"time"
)

// OfferResponse is a miner's answer to a task offer, kept whether it
// accepted or not (and when it did not answer at all: Accepted false with the
// error in Message).
type OfferResponse struct {
	ID        int64     `json:"id"`
	TaskID    string    `json:"task_id"`
	Hotkey    string    `json:"hotkey"`
	Accepted  bool      `json:"accepted"`
	Message   string    `json:"message,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// OfferService stores offer responses.
type OfferService interface {
	// AddOfferResponse stores r and fills in its ID and CreatedAt. Returns
	// ENOTFOUND when the task does not exist.
	AddOfferResponse(ctx context.Context, r *OfferResponse) error
	// FindOfferResponses returns a task's offer responses in the order received.
	FindOfferResponses(ctx context.Context, taskID string) ([]*OfferResponse, error)
}
