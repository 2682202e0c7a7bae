package metadata

import (
	"testing"

	"github.com/crucible-net/crucible/chain/subtensor/internal/vectors"
	"github.com/crucible-net/crucible/chain/subtensor/scale"
	"github.com/crucible-net/crucible/fuzzguard"
)

// Hostile metadata never panics or allocates without bound: truncations
// and bit flips of a real blob are decoded or refused with an error.
func TestParseDamagedMetadata(t *testing.T) {
	b, err := vectors.Hex(vectors.V14Mainnet219)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 4, 5, 6, 100, len(b) / 2, len(b) - 1} {
		if _, err := Parse(b[:n]); err == nil {
			t.Errorf("truncated to %d bytes: parsed", n)
		}
	}
	for i := 5; i < len(b); i += len(b) / 97 {
		c := append([]byte(nil), b...)
		c[i] ^= 0xff
		Parse(c) // must not panic
	}
	if _, err := Parse(append(append([]byte(nil), b...), 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

func FuzzDecodeNeurons(f *testing.F) {
	b, err := vectors.Hex(vectors.V15Spec343)
	if err != nil {
		f.Fatal(err)
	}
	md, err := Parse(b)
	if err != nil {
		f.Fatal(err)
	}
	m, err := md.API("NeuronInfoRuntimeApi", "get_neurons_lite")
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0x04})
	f.Add(scale.AppendCompact(nil, 1<<29))
	f.Fuzz(func(t *testing.T, p []byte) {
		fuzzguard.Within(t, func() {
			md.Types.DecodeAll(m.Output, p)
		})
	})
}
