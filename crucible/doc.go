// Package crucible holds the domain of the crucible network: tasks, their
// lifecycle, submissions, nodes, scores, the error type shared by every
// adapter, and the service interfaces the adapters implement.
//
// It imports only the standard library. Adapters (sqlstore, server, validator,
// miner, chain, ...) import this package; it imports none of them.
package crucible
