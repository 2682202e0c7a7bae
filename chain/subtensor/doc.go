// Package subtensor runs crucible's nodes on Bittensor's chain: Client
// implements chain.Chain against a Subtensor node's JSON-RPC interface.
//
// Everything chain-specific is read from the chain itself: the runtime
// metadata (fetched at start and again after a runtime upgrade) gives the
// pallet and call indices, storage hashers, the layout of the runtime API
// results and the list of signed extensions. Reads use the
// NeuronInfoRuntimeApi (metagraph) and storage (hyperparameters); writes are
// signed extrinsics (sr25519, mortal era, nonce from the node's pool) whose
// outcome is read back from the block's events, with Subtensor's error
// names mapped onto the chain package's refusals.
//
// Subpackages: scale (the SCALE codec), metadata (metadata V14/V15 and the
// dynamic codec driven by it), rpc (JSON-RPC over WebSocket and HTTP).
// testdata/SOURCES.md lists the real chain data the tests are checked
// against.
package subtensor
