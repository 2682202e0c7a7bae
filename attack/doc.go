// Package attack is crucible's attack suite: each test plays one kind of
// hostile peer or customer against real nodes (a validator with its
// embedded chain and miners, on loopback, with real stores) and asserts
// two things: the refusal (the status and the reason), and that nothing was
// written, changed or lost by it. The package holds no code of its own; its
// tests run with the rest (go test ./...), in CI.
//
// The attack classes and the test that covers each are listed in
// docs/ARCHITECTURE.md ("Hostile input").
package attack
