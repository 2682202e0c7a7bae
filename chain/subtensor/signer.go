package subtensor

import (
	"crypto/ed25519"
	"fmt"

	"github.com/crucible-net/crucible/sign"
)

// Signer signs extrinsics for one account.
type Signer interface {
	// PublicKey is the account id.
	PublicKey() [32]byte
	// Sign signs an extrinsic's payload.
	Sign(msg []byte) ([]byte, error)
	// Scheme names the signature's variant of the chain's MultiSignature:
	// "Sr25519" or "Ed25519".
	Scheme() string
}

// Sr25519 returns a Signer for a crucible key (sr25519, the key type of
// Bittensor's hotkeys and coldkeys).
func Sr25519(k *sign.Keypair) Signer { return srSigner{k} }

type srSigner struct{ k *sign.Keypair }

func (s srSigner) PublicKey() [32]byte             { return s.k.PublicKey() }
func (s srSigner) Sign(msg []byte) ([]byte, error) { return s.k.Sign(msg) }
func (s srSigner) Scheme() string                  { return "Sr25519" }

// Ed25519 returns a Signer for an ed25519 key (accepted by the chain's
// MultiSignature; Bittensor wallets use sr25519).
func Ed25519(k ed25519.PrivateKey) Signer { return edSigner{k} }

type edSigner struct{ k ed25519.PrivateKey }

func (s edSigner) PublicKey() [32]byte {
	var p [32]byte
	copy(p[:], s.k.Public().(ed25519.PublicKey))
	return p
}
func (s edSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.k, msg), nil }
func (s edSigner) Scheme() string                  { return "Ed25519" }

// address returns the SS58 address (prefix 42) of a public key.
func address(pub [32]byte) string { return sign.EncodeAddress(pub, sign.SubstratePrefix) }

// accountID parses an SS58 address into its public key.
func accountID(addr string) ([32]byte, error) {
	pub, err := sign.PublicKey(addr)
	if err != nil {
		return pub, fmt.Errorf("address %q: %w", addr, err)
	}
	return pub, nil
}
