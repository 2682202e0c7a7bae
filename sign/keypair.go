package sign

import (
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	bip39 "github.com/cosmos/go-bip39"
	"golang.org/x/crypto/blake2b"
)

// DevPhrase is Substrate's well-known development mnemonic. A secret URI that
// starts with a derivation path ("//Alice") derives from it. Keys made from it
// are public knowledge: use them only on a local chain.
const DevPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

// signingContext is the sr25519 signing context Substrate and Bittensor use.
var signingContext = []byte("substrate")

// Signer is what a node needs from a key to sign requests: *Keypair satisfies
// it, and tests may supply their own.
type Signer interface {
	// Address is the signer's SS58 (prefix 42) address.
	Address() string
	// Sign returns a 64-byte signature of msg.
	Sign(msg []byte) ([]byte, error)
}

// Keypair is an sr25519 key pair. The zero value is not usable; make one with
// Generate, FromMnemonic, FromURI, FromSeed or LoadKeyFile.
type Keypair struct {
	secret  *schnorrkel.SecretKey
	nonce   [32]byte // the secret's signing nonce (go-schnorrkel keeps it private)
	pub     [32]byte
	address string

	// seed is the 32-byte mini secret the key expands from, when known
	// (keys from a mnemonic, a seed or a hard derivation; not soft ones).
	seed    [32]byte
	hasSeed bool
	// phrase is the mnemonic the key was made from, when it was made
	// directly from one (no derivation path).
	phrase string
}

// Generate makes a new random key and returns it with its 24-word mnemonic.
func Generate() (*Keypair, string, error) {
	phrase, err := schnorrkel.GenerateMnemonic()
	if err != nil {
		return nil, "", fmt.Errorf("generate mnemonic: %w", err)
	}
	kp, err := FromMnemonic(phrase, "")
	if err != nil {
		return nil, "", err
	}
	return kp, phrase, nil
}

// FromMnemonic derives the key of a BIP39 mnemonic the Substrate way:
// PBKDF2-HMAC-SHA512 over the mnemonic's entropy with salt "mnemonic"+password,
// the first 32 bytes being the mini secret.
func FromMnemonic(phrase, password string) (*Keypair, error) {
	phrase = strings.Join(strings.Fields(phrase), " ")
	mini, err := schnorrkel.MiniSecretKeyFromMnemonic(phrase, password)
	if err != nil {
		if why := mnemonicProblem(phrase); why != "" {
			return nil, fmt.Errorf("mnemonic: %s", why)
		}
		return nil, fmt.Errorf("mnemonic: %w", err)
	}
	kp, err := fromMini(mini)
	if err != nil {
		return nil, err
	}
	kp.phrase = phrase
	return kp, nil
}

// mnemonicProblem says what is wrong with a BIP39 phrase in words an
// operator can act on: the word count, the first word not in the English
// word list, or a checksum that does not match. "" when it finds nothing.
func mnemonicProblem(phrase string) string {
	words := strings.Fields(phrase)
	switch len(words) {
	case 12, 15, 18, 21, 24:
	default:
		return fmt.Sprintf("%d words; a mnemonic has 12, 15, 18, 21 or 24", len(words))
	}
	for i, w := range words {
		if _, ok := bip39.ReverseWordMap[w]; !ok {
			return fmt.Sprintf("word %d %q is not in the BIP39 English word list", i+1, w)
		}
	}
	if _, err := bip39.MnemonicToByteArray(strings.Join(words, " ")); err != nil {
		return "checksum does not match: a word is wrong or the words are out of order"
	}
	return ""
}

// FromSeed returns the key whose 32-byte mini secret is seed (Substrate's
// "secret seed", e.g. 0xe5be…5c0a for //Alice).
func FromSeed(seed [32]byte) (*Keypair, error) {
	mini, err := schnorrkel.NewMiniSecretKeyFromRaw(seed)
	if err != nil {
		return nil, fmt.Errorf("secret seed: %w", err)
	}
	return fromMini(mini)
}

// FromEd25519Bytes returns the key of a 64-byte sr25519 secret in the
// "ed25519 bytes" layout (scalar times the cofactor, then the nonce), the
// layout of Substrate's and Bittensor's "privateKey".
func FromEd25519Bytes(b [64]byte) (*Keypair, error) {
	sk := schnorrkel.NewSecretKeyFromEd25519Bytes(b)
	var nonce [32]byte
	copy(nonce[:], b[32:])
	return fromSecret(sk.Encode(), nonce)
}

// FromURI parses a Substrate secret URI: "PHRASE", "0xSEED", optionally
// followed by a derivation path of "//hard" and "/soft" junctions and
// "///password". A URI that starts with the path uses DevPhrase, so "//Alice"
// is the development key Alice.
func FromURI(uri string) (*Keypair, error) {
	uri = strings.TrimSpace(uri)
	phrase, path, password := uri, "", ""
	if i := strings.Index(uri, "///"); i >= 0 {
		phrase, password = uri[:i], uri[i+3:]
	}
	if i := strings.Index(phrase, "/"); i >= 0 {
		phrase, path = phrase[:i], phrase[i:]
	}
	phrase = strings.TrimSpace(phrase)
	if phrase == "" {
		phrase = DevPhrase
	}
	var kp *Keypair
	var err error
	if strings.HasPrefix(phrase, "0x") {
		if password != "" {
			return nil, fmt.Errorf("secret uri: a password applies to a mnemonic, not to a hex seed")
		}
		seed, herr := decodeHex32(phrase)
		if herr != nil {
			return nil, fmt.Errorf("secret uri: seed: %w", herr)
		}
		kp, err = FromSeed(seed)
	} else {
		kp, err = FromMnemonic(phrase, password)
	}
	if err != nil {
		return nil, fmt.Errorf("secret uri: %w", err)
	}
	if path == "" {
		return kp, nil
	}
	return kp.Derive(path)
}

// Derive applies a derivation path such as "//Alice", "//validator//0" or
// "//hot/soft" to the key and returns the derived key.
func (k *Keypair) Derive(path string) (*Keypair, error) {
	junctions, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	cur := k
	for _, j := range junctions {
		var next *Keypair
		if j.hard {
			mini, _, err := cur.secret.HardDeriveMiniSecretKey([]byte{}, j.code)
			if err != nil {
				return nil, fmt.Errorf("derive %q: %w", path, err)
			}
			next, err = fromMini(mini)
			if err != nil {
				return nil, fmt.Errorf("derive %q: %w", path, err)
			}
		} else {
			ek, err := schnorrkel.DeriveKeySimple(cur.secret, []byte{}, j.code)
			if err != nil {
				return nil, fmt.Errorf("derive %q: %w", path, err)
			}
			sk, err := ek.Secret()
			if err != nil {
				return nil, fmt.Errorf("derive %q: %w", path, err)
			}
			// The derived nonce only randomizes signatures; derive it
			// deterministically from the parent's so a soft-derived key
			// is the same value every time it is loaded.
			key := sk.Encode()
			nonce := blake2b.Sum256(append(append([]byte("crucible-soft-nonce"), cur.nonce[:]...), key[:]...))
			next, err = fromSecret(key, nonce)
			if err != nil {
				return nil, fmt.Errorf("derive %q: %w", path, err)
			}
		}
		cur = next
	}
	return cur, nil
}

type junction struct {
	hard bool
	code [32]byte
}

// parsePath splits a derivation path into junctions and computes each
// junction's chain code the Substrate way: a decimal number is its u64
// little-endian bytes, anything else its SCALE-encoded string, and codes
// longer than 32 bytes are replaced by their blake2b-256 hash.
func parsePath(path string) ([]junction, error) {
	if path == "" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("derivation path %q: must start with / or //", path)
	}
	var out []junction
	rest := path
	for rest != "" {
		hard := strings.HasPrefix(rest, "//")
		if hard {
			rest = rest[2:]
		} else {
			rest = rest[1:]
		}
		end := strings.Index(rest, "/")
		if end < 0 {
			end = len(rest)
		}
		name := rest[:end]
		rest = rest[end:]
		if name == "" {
			return nil, fmt.Errorf("derivation path %q: empty junction", path)
		}
		var enc []byte
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			enc = binary.LittleEndian.AppendUint64(nil, n)
		} else {
			enc = append(compactLen(len(name)), name...)
		}
		var j junction
		j.hard = hard
		if len(enc) > 32 {
			j.code = blake2b.Sum256(enc)
		} else {
			copy(j.code[:], enc)
		}
		out = append(out, j)
	}
	return out, nil
}

// compactLen is the SCALE compact encoding of a length.
func compactLen(n int) []byte {
	switch {
	case n < 1<<6:
		return []byte{byte(n << 2)}
	case n < 1<<14:
		return binary.LittleEndian.AppendUint16(nil, uint16(n<<2|1))
	default:
		return binary.LittleEndian.AppendUint32(nil, uint32(n<<2|2))
	}
}

func fromMini(mini *schnorrkel.MiniSecretKey) (*Keypair, error) {
	seed := mini.Encode()
	h := sha512.Sum512(seed[:])
	var nonce [32]byte
	copy(nonce[:], h[32:])
	kp, err := fromSecret(mini.ExpandEd25519().Encode(), nonce)
	if err != nil {
		return nil, err
	}
	kp.seed = mini.Encode()
	kp.hasSeed = true
	return kp, nil
}

func fromSecret(key, nonce [32]byte) (*Keypair, error) {
	sk := schnorrkel.NewSecretKey(key, nonce)
	pub, err := sk.Public()
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	kp := &Keypair{secret: sk, nonce: nonce, pub: pub.Encode()}
	kp.address = EncodeAddress(kp.pub, SubstratePrefix)
	return kp, nil
}

// Address returns the key's SS58 address (prefix 42).
func (k *Keypair) Address() string { return k.address }

// PublicKey returns the 32-byte public key.
func (k *Keypair) PublicKey() [32]byte { return k.pub }

// Seed returns the 32-byte mini secret and true when the key has one (keys
// from a soft derivation have none).
func (k *Keypair) Seed() ([32]byte, bool) { return k.seed, k.hasSeed }

// Mnemonic returns the mnemonic the key was made from, or "" when it was not
// made directly from one.
func (k *Keypair) Mnemonic() string { return k.phrase }

// Ed25519Bytes returns the 64-byte secret in the layout Substrate calls the
// private key: the secret scalar times the cofactor 8, then the nonce.
func (k *Keypair) Ed25519Bytes() [64]byte {
	var out [64]byte
	key := k.secret.Encode()
	// Multiply the 256-bit little-endian scalar by 8 (shift left by 3).
	// Secret scalars are below 2^253, so nothing is lost.
	var carry byte
	for i := 0; i < 32; i++ {
		b := key[i]
		out[i] = b<<3 | carry
		carry = b >> 5
	}
	copy(out[32:], k.nonce[:])
	return out
}

// Sign signs msg in the "substrate" context and returns the 64-byte
// signature. Signatures are randomized: verify them, do not compare them.
func (k *Keypair) Sign(msg []byte) ([]byte, error) {
	sig, err := k.secret.Sign(schnorrkel.NewSigningContext(signingContext, msg))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	b := sig.Encode()
	return b[:], nil
}

// ErrBadSignature is returned (wrapped) when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// VerifySignature checks that sig is address's signature of msg. Like Substrate's
// Keypair.verify it also accepts a signature of msg wrapped in
// "<Bytes>…</Bytes>", the form browser wallets sign.
func VerifySignature(address string, msg, sig []byte) error {
	pub, err := PublicKey(address)
	if err != nil {
		return err
	}
	return VerifyPublicKey(pub, msg, sig)
}

// VerifyPublicKey is VerifySignature for a raw 32-byte public key.
func VerifyPublicKey(pub [32]byte, msg, sig []byte) error {
	if len(sig) != 64 {
		return fmt.Errorf("%w: signature is %d bytes, want 64", ErrBadSignature, len(sig))
	}
	pk, err := schnorrkel.NewPublicKey(pub)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	var raw [64]byte
	copy(raw[:], sig)
	var s schnorrkel.Signature
	if err := s.Decode(raw); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if ok, _ := pk.Verify(&s, schnorrkel.NewSigningContext(signingContext, msg)); ok {
		return nil
	}
	wrapped := append(append([]byte("<Bytes>"), msg...), "</Bytes>"...)
	if ok, _ := pk.Verify(&s, schnorrkel.NewSigningContext(signingContext, wrapped)); ok {
		return nil
	}
	return ErrBadSignature
}

func decodeHex32(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		return out, fmt.Errorf("not hex: %w", err)
	}
	if len(b) != 32 {
		return out, fmt.Errorf("%d bytes, want 32", len(b))
	}
	copy(out[:], b)
	return out, nil
}
