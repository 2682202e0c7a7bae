// Package chaos is crucible's chaos test: a network of separate processes
// (a chain, a validator on SQLite or, when CI's Postgres is there, on
// Postgres, and three miners, each the crucible binary built once) runs a
// few dozen short tasks while a driver kills a random node with SIGKILL at
// random moments (at least 50 times, from a seed, so that a run can be
// replayed) and starts it again. The nodes reach the chain, and the miners
// the validator, through TCP proxies that drop connections: a seeded share
// of them after a seeded number of bytes (a request or an answer dies in
// the middle of its body), and every live one of a proxy at moments of the
// same schedule. At the end every task must have ended in
// success or in a failure that says why, none may be stranded, the results
// log must verify, and an auditor must find no discrepancy.
//
// The package holds no code of its own; the test runs with the rest
// (go test ./...). CRUCIBLE_CHAOS_SEED replays a run, CRUCIBLE_CHAOS_KILLS
// and CRUCIBLE_CHAOS_TASKS change its size, and CRUCIBLE_CHAOS_DIR keeps the
// run's directory (every node's log, home and store) under that folder.
package chaos
