package crucible

import (
	"context"
	"time"
)

// ResultEntry is one entry of a validator's public results log: an
// append-only, hash-chained record (each entry names the hash of the one
// before it) that auditors replay to recompute weights. The store keeps the
// chain fields as given; computing and checking hashes and signatures is the
// validator's and the auditor's job.
type ResultEntry struct {
	Seq       int64     `json:"seq"`        // 1, 2, 3, ... with no gaps
	PrevHash  string    `json:"prev_hash"`  // Hash of entry Seq-1; empty for the first
	Hash      string    `json:"hash"`       // hash over Seq, PrevHash and Payload
	Kind      string    `json:"kind"`       // what the payload is, e.g. "task_result", "weights"
	Payload   []byte    `json:"payload"`    // canonical JSON
	Signer    string    `json:"signer"`     // SS58 hotkey that signed Hash
	Signature string    `json:"signature"`  // hex signature over Hash
	CreatedAt time.Time `json:"created_at"` // when it was appended
}

// ResultLogService stores the results log.
type ResultLogService interface {
	// AppendResult stores e. e.Seq must be one past the last stored entry and
	// e.PrevHash the last entry's Hash; otherwise it returns ECONFLICT, so two
	// writers cannot fork the chain. Returns EINVALID for a missing hash or a
	// payload that is not JSON.
	AppendResult(ctx context.Context, e *ResultEntry) error
	// LastResult returns the newest entry. Returns ENOTFOUND when the log is empty.
	LastResult(ctx context.Context) (*ResultEntry, error)
	// FindResults returns up to limit entries with Seq greater than afterSeq, in
	// order; limit 0 means 1000.
	FindResults(ctx context.Context, afterSeq int64, limit int) ([]*ResultEntry, error)
}
