// Package node holds what every crucible node (validator, miner, auditor,
// the in-process demo network) shares beyond the domain: where its state
// lives ($CRUCIBLE_HOME) and the lock that keeps two processes off the same
// state, its hotkey, its connection to the chain, the models it resolves by
// name, the blob store its configuration names, and serving HTTP.
//
// The application layers of the nodes build on it: node/validatornode and
// node/minernode open a node from its Config and run it; node/localnet runs
// a whole network in one process. cmd/crucible only parses flags and calls
// them.
package node
