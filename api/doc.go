// Package api holds crucible's wire types — the JSON bodies exchanged between
// validator and miners and between customers and the validator — together
// with the paths they travel on, so that the server, the miner, the CLI and
// the Go clients share one definition.
package api
