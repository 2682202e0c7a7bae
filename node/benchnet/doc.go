// Package benchnet is "crucible bench network": a validator on loopback
// (with its embedded chain, on SQLite or Postgres) driven by N miners that
// speak the node protocol but do not train, and by a customer load on the
// API, to measure what the validator itself costs.
//
// The miners are real miner nodes (signed protocol, job records, downloads
// of the base model and the train split, packing, uploads with retries)
// whose strategy writes a fresh random LoRA adapter of the base instead of
// training, so that every submission is distinct and valid and is evaluated
// for real. Tasks go through the customer API one after another; for each,
// the figures come from its recorded status events:
//
//	overhead = (offered → scored) − training − evaluation
//
// where training is the longest time one of its miners spent in the
// strategy and evaluation is the wall time the evaluator was busy with the
// task. Meanwhile a customer load sends requests at a fixed rate (open
// loop: a slow answer does not slow the load) to the read routes of the
// API, against a store seeded with finished tasks, and the latency of each
// route is reported as percentiles. The process's memory (resident, and
// the Go heap in use after a collection) is read before and after the load
// and once a minute between two tasks, so that a long run (a soak) shows
// whether it stays flat. It is the whole process's: the validator, the
// simulated miners (which forget their finished jobs at the first sweep
// after the deadline, not 10 minutes later as a real miner does) and the
// run's own records.
package benchnet

//go:generate go run github.com/crucible-net/crucible/tools/configdoc
