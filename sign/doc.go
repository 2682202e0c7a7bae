// Package sign gives crucible nodes their identity and authenticates the HTTP
// requests they send each other.
//
// Identities are sr25519 hotkeys, exactly as on Bittensor: SS58 addresses with
// prefix 42, substrate-style mnemonics (the BIP39 entropy, not the BIP39 seed,
// feeds PBKDF2), "//hard" and "/soft" derivation paths (so "//Alice" is the
// well-known development key) and signatures made in the "substrate" signing
// context, so a Bittensor hotkey file signs for crucible and a crucible key
// verifies in Bittensor's Keypair.verify.
//
// Requests between nodes are signed the way Rayon Labs' fiber signs them
// (headers validator-hotkey, miner-hotkey, nonce and signature over
// "{nonce}:{miner_hotkey}:{sha256hex(body)}"), with GET requests signed over
// the empty body. A Transport signs outgoing requests; Verify is server
// middleware that checks the signature, the nonce's freshness (±120 s), that
// the nonce was not seen before, that the request was meant for this node, and
// finally asks the caller-supplied Authorize function whether the signer may
// call at all (registered? enough stake?).
package sign
