// Package miner is a crucible miner node: it answers the validator's signed
// task offers with an accept policy (capacity, model size, time budget),
// queues the tasks it is chosen for, downloads the train split and the base
// model, trains with a pluggable strategy before the deadline, and uploads
// the result (a Hugging Face directory: full model or PEFT adapter).
//
// The package does not sign or verify requests itself: the HTTP client it is
// given signs outgoing requests, and Handler is wrapped by the caller with the
// verifying middleware, so it stays free of any particular key scheme.
package miner
