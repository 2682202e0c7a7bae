// Package chain is crucible's view of the blockchain that registers nodes and
// turns validators' weights into rewards.
//
// Chain is what validators and miners need from it: the metagraph,
// registration, serving an axon address, setting weights, and the current
// block. Local implements it on this machine with the same rules as
// Bittensor's Subtensor: a block clock, set_weights checked exactly as the
// chain checks it (each refusal named as Subtensor names it), and Yuma
// Consensus run every tempo blocks: Epoch in float64, or EpochFixed in
// Subtensor's own I32F32 arithmetic. Client and NewHandler put a Local
// behind HTTP, so a validator can use an embedded chain or a remote
// "crucible chain" daemon through the same interface.
//
// The package never signs or verifies anything itself: writes over HTTP are
// signed and checked by functions the caller supplies (NewClient's SignFunc,
// ServerOptions.Authenticate), which the crucible command wires to the sign
// package.
package chain
