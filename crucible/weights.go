package crucible

import (
	"context"
	"time"
)

// WeightsRecord is one set of weights a validator computed (and, when
// Block is set, submitted to the chain).
type WeightsRecord struct {
	ID        int64              `json:"id"`
	Netuid    int                `json:"netuid"`
	Weights   map[string]float64 `json:"weights"` // hotkey → normalised weight
	Block     int64              `json:"block,omitempty"`
	Note      string             `json:"note,omitempty"` // e.g. the spec version or why weights were set
	CreatedAt time.Time          `json:"created_at"`
}

// WeightsService keeps the history of weights.
type WeightsService interface {
	// AddWeights stores w and fills in its ID and CreatedAt.
	AddWeights(ctx context.Context, w *WeightsRecord) error
	// FindWeights returns up to limit records, newest first; limit 0 means 100.
	FindWeights(ctx context.Context, limit int) ([]*WeightsRecord, error)
}
