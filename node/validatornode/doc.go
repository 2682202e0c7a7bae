// Package validatornode is the validator's application layer: it opens a
// validator node from its Config (state under $CRUCIBLE_HOME and its lock,
// hotkey, store, durable queue, chain, blob store, models, evaluator) and
// runs it (HTTP API, lifecycle jobs, metagraph sync, weights, synthetic
// tasks).
//
// It owns every write to a task outside the lifecycle's Step: Submit
// creates a task and queues its lifecycle job in one transaction; Cancel
// cancels a task and queues the job that notices, in one transaction;
// Start re-queues every unfinished task, so no task is stranded without a
// job whatever happened before. It also answers the customer API's
// estimates (rows, time budget, cost, miners online) and assembles the
// node's HTTP routes: the customer API and dashboard (package server), the
// signed node protocol for miners, the public results log.
//
//	n, err := validatornode.Open(ctx, cfg, validatornode.Deps{})
//	...
//	return n.Run(ctx)
package validatornode
