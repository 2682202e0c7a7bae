package validator

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
)

// Honeypots make training on a public dataset's original pay badly. A
// synthetic task built from a public dataset could be won by a miner that
// found the source and trained on all of it, test rows included. So both
// splits are changed the same way, in ways only the served train split
// teaches: every prompt carries a task-specific marker, a quarter of the
// answers end with a second marker, and a DPO task may have chosen and
// rejected swapped throughout. The changes are deterministic in the task ID
// and the validator's seed; the Preparer applies them, and the task's
// evaluation record keeps them.

// NewHoneypot derives a task's honeypot from its ID and a seed.
func NewHoneypot(taskID string, seed int64) crucible.Honeypot {
	h := sha256.Sum256(fmt.Appendf(nil, "honeypot/%d/%s", seed, taskID))
	return crucible.Honeypot{
		PromptMarker: "[" + hex.EncodeToString(h[0:4]) + "]",
		AnswerMarker: hex.EncodeToString(h[4:8]),
		AnswerShare:  0.25,
		SwapDPO:      h[8]&1 == 1,
	}
}
