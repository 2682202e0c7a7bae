package sign

import (
	"bytes"
	"fmt"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/blake2b"
)

// SubstratePrefix is the SS58 address prefix used by Bittensor (the generic
// Substrate prefix); its addresses start with "5".
const SubstratePrefix = 42

// ss58Pre is hashed in front of the payload to form the checksum.
var ss58Pre = []byte("SS58PRE")

// EncodeAddress returns the SS58 address of a 32-byte public key under prefix
// (0..16383).
func EncodeAddress(pub [32]byte, prefix uint16) string {
	var p []byte
	if prefix < 64 {
		p = []byte{byte(prefix)}
	} else {
		// Two-byte form: the 14-bit prefix spread over two bytes as the
		// SS58 spec lays it out.
		p = []byte{
			byte(((prefix & 0xfc) >> 2) | 0x40),
			byte((prefix >> 8) | ((prefix & 0x3) << 6)),
		}
	}
	payload := append(p, pub[:]...)
	sum := ss58Checksum(payload)
	return base58.Encode(append(payload, sum[:2]...))
}

// DecodeAddress parses an SS58 address of a 32-byte account and returns its
// public key and prefix. It rejects bad base58, wrong lengths and checksum
// mismatches.
func DecodeAddress(addr string) (pub [32]byte, prefix uint16, err error) {
	if addr == "" {
		return pub, 0, fmt.Errorf("ss58 address is empty")
	}
	raw, err := base58.Decode(addr)
	if err != nil {
		return pub, 0, fmt.Errorf("ss58 address %q: not base58: %w", addr, err)
	}
	if len(raw) == 0 {
		return pub, 0, fmt.Errorf("ss58 address %q: empty", addr)
	}
	var plen int
	switch {
	case raw[0] < 64:
		prefix, plen = uint16(raw[0]), 1
	case raw[0] < 128:
		if len(raw) < 2 {
			return pub, 0, fmt.Errorf("ss58 address %q: truncated prefix", addr)
		}
		lower := (raw[0] << 2) | (raw[1] >> 6)
		upper := raw[1] & 0x3f
		prefix, plen = uint16(lower)|uint16(upper)<<8, 2
	default:
		return pub, 0, fmt.Errorf("ss58 address %q: reserved prefix byte %#x", addr, raw[0])
	}
	if len(raw) != plen+32+2 {
		return pub, 0, fmt.Errorf("ss58 address %q: %d bytes, want %d for a 32-byte account", addr, len(raw), plen+34)
	}
	sum := ss58Checksum(raw[:plen+32])
	if !bytes.Equal(sum[:2], raw[plen+32:]) {
		return pub, 0, fmt.Errorf("ss58 address %q: checksum mismatch", addr)
	}
	copy(pub[:], raw[plen:plen+32])
	return pub, prefix, nil
}

// PublicKey returns the public key of a Bittensor (prefix 42) SS58 address,
// rejecting other prefixes so that a key from another network is not taken
// for a Bittensor one.
func PublicKey(addr string) ([32]byte, error) {
	pub, prefix, err := DecodeAddress(addr)
	if err != nil {
		return pub, err
	}
	if prefix != SubstratePrefix {
		return [32]byte{}, fmt.Errorf("ss58 address %q: prefix %d, want %d", addr, prefix, SubstratePrefix)
	}
	return pub, nil
}

// ValidAddress reports whether addr is a well-formed prefix-42 SS58 address.
func ValidAddress(addr string) bool {
	_, err := PublicKey(addr)
	return err == nil
}

func ss58Checksum(payload []byte) [64]byte {
	h, _ := blake2b.New512(nil)
	h.Write(ss58Pre)
	h.Write(payload)
	var out [64]byte
	copy(out[:], h.Sum(nil))
	return out
}
