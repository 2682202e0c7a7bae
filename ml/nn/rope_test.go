package nn

import (
	"fmt"
	"math"
	"testing"
)

func TestRoPE(t *testing.T) {
	for _, hd := range []int{8, 16, 20} {
		t.Run(fmt.Sprint("hd", hd), func(t *testing.T) { testRoPE(t, hd) })
	}
}

func testRoPE(t *testing.T, hd int) {
	const batch, tt, nh = 2, 5, 3
	rp, err := NewRoPE(hd, 32, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	inv := make([]float64, hd/2)
	for i := range inv {
		inv[i] = float64(rp.InvFreq()[i])
		if want := math.Pow(10000, -float64(float32(2*i)/float32(hd))); math.Abs(inv[i]-want) > 1e-7*want {
			t.Fatalf("inv_freq[%d] = %v, want %v", i, inv[i], want)
		}
	}
	r := newRand(5)
	x := randVec(r, batch*tt*nh*hd, 1)
	for _, start := range [][]int{nil, {3, 7}} {
		f := func(in [][]float64) []float64 { return refRoPE(in[0], inv, batch, tt, nh, hd, start, false) }
		in := [][]float64{to64(x)}
		out := make([]float32, len(x))
		rp.Forward(out, x, batch, tt, nh, 0, start)
		if e := maxAbsErr(out, f(in)); e > 1e-6 {
			t.Fatalf("start %v: forward max error %.3g", start, e)
		}
		inPlace := append([]float32(nil), x...)
		rp.Forward(inPlace, inPlace, batch, tt, nh, 0, start)
		for i := range out {
			if inPlace[i] != out[i] {
				t.Fatalf("in-place forward differs at %d", i)
			}
		}
		dout := randVec(r, len(x), 1)
		dx, dx0 := prefilled(r, len(x))
		rp.Backward(dx, dout, batch, tt, nh, 0, start)
		checkGrad(t, "rope dx", dx, dx0, fdGrad(f, in, to64(dout), 0), 1e-3)
		d := append([]float32(nil), dout...)
		rp.BackwardInPlace(d, batch, tt, nh, 0, start)
		for i := range d {
			if d[i] != dx[i]-dx0[i] && math.Abs(float64(d[i]-(dx[i]-dx0[i]))) > 1e-6 {
				t.Fatalf("in-place backward differs at %d", i)
			}
		}
		// The backward undoes the forward.
		back := append([]float32(nil), out...)
		rp.BackwardInPlace(back, batch, tt, nh, 0, start)
		if e := maxAbsErr(back, to64(x)); e > 1e-6 {
			t.Fatalf("inverse rotation max error %.3g", e)
		}
	}
}

func TestRoPELinearScaling(t *testing.T) {
	plain, err := NewRoPE(16, 4, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	scaled, err := NewRoPE(16, 4, 10000, &RoPEScaling{Type: "linear", Factor: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range plain.InvFreq() {
		if got := scaled.InvFreq()[i]; got != f/4 {
			t.Errorf("inv_freq[%d] = %v, want %v", i, got, f/4)
		}
	}
}

func TestRoPEConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hd, max int
		theta   float64
		sc      *RoPEScaling
	}{
		{"odd head dim", 7, 8, 1e4, nil},
		{"no positions", 8, 0, 1e4, nil},
		{"zero theta", 8, 8, 0, nil},
		{"unknown type", 8, 8, 1e4, &RoPEScaling{Type: "yarn", Factor: 2}},
		{"zero factor", 8, 8, 1e4, &RoPEScaling{Type: "linear"}},
		{"llama3 no context", 8, 8, 1e4, &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4}},
		{"llama3 bad factors", 8, 8, 1e4, &RoPEScaling{Type: "llama3", Factor: 8, LowFreqFactor: 4, HighFreqFactor: 1, OriginalMaxPositionEmbeddings: 8192}},
	} {
		if _, err := NewRoPE(tc.hd, tc.max, tc.theta, tc.sc); err == nil {
			t.Errorf("%s: want an error", tc.name)
		}
	}
}

// TestRoPEVectorMatchesScalar checks that the vector rotation does the
// scalar code's operations exactly.
func TestRoPEVectorMatchesScalar(t *testing.T) {
	if !useAVX2 {
		t.Skip("no vector path on this CPU")
	}
	const batch, tt, nh, hd = 2, 3, 2, 32
	rp, err := NewRoPE(hd, 8, 500000, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(15)
	x := randVec(r, batch*tt*nh*hd, 1)
	run := func() []float32 {
		out := make([]float32, len(x))
		rp.Forward(out, x, batch, tt, nh, 0, []int{1, 4})
		acc, _ := prefilled(newRand(16), len(x))
		rp.Backward(acc, x, batch, tt, nh, 0, []int{1, 4})
		return append(out, acc...)
	}
	vec := run()
	useAVX2 = false
	scalar := run()
	useAVX2 = true
	sameBits(t, "vector vs scalar", vec, scalar)
}

// TestRoPEPartialAndFactor checks partial rotary embeddings (the first 6 of
// 8 dimensions of each head rotated, the rest passing through, in place and
// backward in place) and the cos/sin attention factor of NewRoPEFreqs
// against the reference rotation of the leading dimensions.
func TestRoPEPartialAndFactor(t *testing.T) {
	const batch, T, nh, hd, rot = 2, 5, 3, 8, 6
	inv := DefaultInvFreq(rot, 500)
	r, err := NewRoPEFreqs(T, inv, 1.25)
	if err != nil {
		t.Fatal(err)
	}
	r.HeadStride = hd
	rng := newRand(21)
	x := randVec(rng, batch*T*nh*hd, 1)
	y := append([]float32(nil), x...)
	r.Forward(y, y, batch, T, nh, 0, nil)
	sub := make([]float64, batch*T*nh*rot)
	for i := 0; i < batch*T*nh; i++ {
		for d := 0; d < rot; d++ {
			sub[i*rot+d] = float64(x[i*hd+d])
		}
	}
	inv64 := make([]float64, len(inv))
	for i, f := range inv {
		inv64[i] = float64(f)
	}
	want := refRoPE(sub, inv64, batch, T, nh, rot, nil, false)
	for i := 0; i < batch*T*nh; i++ {
		for d := 0; d < hd; d++ {
			got := float64(y[i*hd+d])
			if d >= rot {
				if y[i*hd+d] != x[i*hd+d] {
					t.Fatalf("pass-through dimension %d of head row %d changed", d, i)
				}
				continue
			}
			if e := math.Abs(got - 1.25*want[i*rot+d]); e > 1e-5 {
				t.Fatalf("head row %d dimension %d: got %v, want %v", i, d, got, 1.25*want[i*rot+d])
			}
		}
	}
	// Backward in place undoes the rotation up to the factor squared.
	r.BackwardInPlace(y, batch, T, nh, 0, nil)
	for i := range y {
		w := x[i]
		if i%hd < rot {
			w *= 1.25 * 1.25
		}
		if e := math.Abs(float64(y[i] - w)); e > 1e-5 {
			t.Fatalf("backward of forward at %d: got %v, want %v", i, y[i], w)
		}
	}
	if _, err := NewRoPEFreqs(4, []float32{1, -1}, 1); err == nil {
		t.Error("negative inverse frequency: want an error")
	}
}
