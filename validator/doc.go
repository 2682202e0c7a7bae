// Package validator runs a crucible validator's task lifecycle: it prepares
// a task's data (keeping the test split private), offers the task to miners,
// starts the ones that accept, receives their uploads before the deadline,
// evaluates every submission on the hidden test split, ranks them with the
// scoring spec and records the winner.
//
// The lifecycle is a sequence of idempotent steps (Step), each ending in a
// status transition that the store checks against the task's version, so a
// validator killed at any point resumes where it was: the durable job queue
// simply calls Step again. Storage, blobs, the metagraph, evaluation and
// request signing come in through interfaces wired by the caller.
package validator
