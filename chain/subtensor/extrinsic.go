package subtensor

import (
	"fmt"
	"math/bits"

	"github.com/crucible-net/crucible/chain/subtensor/metadata"
	"github.com/crucible-net/crucible/chain/subtensor/scale"
)

// signedVersion is the first byte of a signed extrinsic of format 4.
const signedVersion = 0x84

// mortalEra encodes a mortal era of about period blocks starting at block
// current (Substrate's Era::mortal): the period is rounded up to a power of
// two in [4, 65536], the phase is current mod period, quantized for long
// periods. It returns the encoding and the era's first block, whose hash
// the signature covers.
func mortalEra(current, period uint64) ([]byte, uint64) {
	if period < 4 {
		period = 4
	}
	if period > 1<<16 {
		period = 1 << 16
	}
	period = 1 << bits.Len64(period-1)
	phase := current % period
	q := period >> 12
	if q < 1 {
		q = 1
	}
	qphase := phase / q * q
	low := uint64(bits.TrailingZeros64(period)) - 1
	if low < 1 {
		low = 1
	}
	if low > 15 {
		low = 15
	}
	enc := uint16(low) | uint16(qphase/q)<<4
	birth := (current-qphase)/period*period + qphase
	if current < qphase {
		birth = qphase
	}
	return scale.AppendU16(nil, enc), birth
}

// txParams are the per-extrinsic values of the signed extensions.
type txParams struct {
	nonce    uint64
	tip      uint64
	era      []byte   // encoded era
	eraHash  [32]byte // hash of the era's first block
	immortal bool     // era is Immortal (eraHash is then the genesis)
	specVer  uint32
	txVer    uint32
	genesis  [32]byte
}

// extensions encodes the signed extensions the runtime lists, in its
// order: extra goes into the extrinsic, additional only into the signed
// payload. An extension crucible does not know is accepted only when it
// carries no data.
func extensions(md *metadata.Metadata, p txParams) (extra, additional []byte, err error) {
	reg := md.Types
	for _, e := range md.Extensions {
		switch e.Identifier {
		case "CheckMortality", "CheckEra":
			extra = append(extra, p.era...)
			additional, err = reg.Encode(additional, e.Additional, p.eraHash)
		case "CheckNonce":
			extra, err = reg.Encode(extra, e.Extra, p.nonce)
		case "ChargeTransactionPayment":
			extra, err = reg.Encode(extra, e.Extra, p.tip)
		case "CheckSpecVersion":
			additional, err = reg.Encode(additional, e.Additional, p.specVer)
		case "CheckTxVersion":
			additional, err = reg.Encode(additional, e.Additional, p.txVer)
		case "CheckGenesis":
			additional, err = reg.Encode(additional, e.Additional, p.genesis)
		case "CheckMetadataHash":
			// Mode Disabled, no hash: the node does not check the metadata
			// this client decoded with (RFC 78 is for offline signers).
			extra, err = reg.Encode(extra, e.Extra, map[string]any{"mode": &metadata.Enum{Name: "Disabled"}})
			if err == nil {
				additional, err = reg.Encode(additional, e.Additional, &metadata.Enum{Name: "None"})
			}
		default:
			if !reg.IsEmpty(e.Extra) || !reg.IsEmpty(e.Additional) {
				return nil, nil, fmt.Errorf("the runtime asks for signed extension %s (extra %s, additional %s), which this version of crucible does not know how to fill",
					e.Identifier, reg.TypeString(e.Extra), reg.TypeString(e.Additional))
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("signed extension %s: %w", e.Identifier, err)
		}
	}
	return extra, additional, nil
}

// encodeCall encodes pallet.name with its arguments taken by field name
// from args (every field the metadata lists must be given; others are
// ignored, so one argument set serves runtimes with and without a field).
func encodeCall(md *metadata.Metadata, pallet, name string, args map[string]any) ([]byte, error) {
	p, v, err := md.Call(pallet, name)
	if err != nil {
		return nil, err
	}
	out := []byte{p.Index, v.Index}
	for _, f := range v.Fields {
		a, ok := args[f.Name]
		if !ok {
			return nil, fmt.Errorf("%s.%s: argument %s (%s) not given", pallet, name, f.Name, md.Types.TypeString(f.Type))
		}
		if out, err = md.Types.Encode(out, f.Type, a); err != nil {
			return nil, fmt.Errorf("%s.%s argument %s: %w", pallet, name, f.Name, err)
		}
	}
	return out, nil
}

// signingPayload returns what the signer signs: call, extra and
// additional, hashed with BLAKE2b-256 when longer than 256 bytes.
func signingPayload(call, extra, additional []byte) []byte {
	p := append(append(append([]byte(nil), call...), extra...), additional...)
	if len(p) > 256 {
		return metadata.Blake2b256(p)
	}
	return p
}

// signExtrinsic builds a signed extrinsic (format 4) of call.
func signExtrinsic(md *metadata.Metadata, call []byte, s Signer, p txParams) ([]byte, error) {
	extra, additional, err := extensions(md, p)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(signingPayload(call, extra, additional))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	if len(sig) != 64 {
		return nil, fmt.Errorf("sign: %d-byte signature, want 64", len(sig))
	}
	pub := s.PublicKey()
	body := []byte{signedVersion}
	if md.HasExtrinsicTypes {
		if body, err = encodeAddress(md, body, pub); err != nil {
			return nil, err
		}
		if body, err = md.Types.Encode(body, md.SignatureType, &metadata.Enum{Name: s.Scheme(), Value: [64]byte(sig)}); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
	} else {
		// No extrinsic types in the metadata: Substrate's defaults,
		// MultiAddress::Id and MultiSignature.
		body = append(append(body, 0), pub[:]...)
		scheme := map[string]byte{"Ed25519": 0, "Sr25519": 1}[s.Scheme()]
		body = append(append(body, scheme), sig...)
	}
	body = append(append(body, extra...), call...)
	return append(scale.AppendCompact(nil, uint64(len(body))), body...), nil
}

// encodeAddress encodes the signer's address: MultiAddress::Id when the
// address type is an enum, the bare account id otherwise.
func encodeAddress(md *metadata.Metadata, b []byte, pub [32]byte) ([]byte, error) {
	t, err := md.Types.Type(md.AddressType)
	if err != nil {
		return nil, err
	}
	if t.Kind == metadata.KindVariant {
		return md.Types.Encode(b, md.AddressType, &metadata.Enum{Name: "Id", Value: pub})
	}
	return md.Types.Encode(b, md.AddressType, pub)
}
