package nn

import (
	"fmt"
	"testing"
)

func TestAttention(t *testing.T) {
	for _, tc := range []struct {
		s  AttnShape
		fd bool // finite differences too (small shapes only)
	}{
		{AttnShape{B: 1, T: 1, NH: 1, NKV: 1, D: 1}, true},
		{AttnShape{B: 2, T: 5, NH: 4, NKV: 2, D: 3}, true},
		{AttnShape{B: 1, T: 7, NH: 3, NKV: 3, D: 4}, true},
		{AttnShape{B: 2, T: 3, NH: 6, NKV: 1, D: 2}, true},
		{AttnShape{B: 1, T: 70, NH: 2, NKV: 1, D: 5}, true},   // crosses a query block
		{AttnShape{B: 2, T: 131, NH: 4, NKV: 2, D: 8}, false}, // three blocks, partial last
		// Sliding windows (shorter than a block, spanning blocks, wider
		// than the sequence), a score scale and Gemma 2's soft cap.
		{AttnShape{B: 2, T: 9, NH: 4, NKV: 2, D: 3, Window: 3}, true},
		{AttnShape{B: 1, T: 150, NH: 2, NKV: 1, D: 4, Window: 70}, true},
		{AttnShape{B: 1, T: 131, NH: 2, NKV: 2, D: 4, Window: 5, Scale: 0.3}, false},
		{AttnShape{B: 1, T: 6, NH: 2, NKV: 1, D: 3, Window: 50}, true},
		{AttnShape{B: 2, T: 7, NH: 4, NKV: 2, D: 3, Scale: 0.7, SoftCap: 1.5}, true},
		{AttnShape{B: 1, T: 80, NH: 2, NKV: 1, D: 4, Window: 9, SoftCap: 2}, true},
	} {
		s := tc.s
		t.Run(fmt.Sprintf("B%d_T%d_H%d_KV%d_D%d_W%d_S%g_C%g", s.B, s.T, s.NH, s.NKV, s.D, s.Window, s.Scale, s.SoftCap), func(t *testing.T) {
			r := newRand(uint64(s.B*1e6 + s.T*1e3 + s.NH*10 + s.D))
			nq, nk := s.B*s.T*s.NH*s.D, s.B*s.T*s.NKV*s.D
			q, k, v := randVec(r, nq, 1.5), randVec(r, nk, 1.5), randVec(r, nk, 1)
			out := randVec(r, nq, 9)
			lse := make([]float32, s.SavedSize())
			scratch := make([]float32, s.ScratchSize())
			AttentionForward(s, out, lse, q, k, v, scratch)
			f := func(in [][]float64) []float64 { return refAttention(s, in[0], in[1], in[2]) }
			in := [][]float64{to64(q), to64(k), to64(v)}
			if e := maxAbsErr(out, f(in)); e > 2e-5 {
				t.Fatalf("forward max error %.3g", e)
			}
			// Without lse (inference) the output is the same.
			out2 := make([]float32, nq)
			AttentionForward(s, out2, nil, q, k, v, scratch)
			for i := range out {
				if out[i] != out2[i] {
					t.Fatalf("forward without lse differs at %d", i)
				}
			}
			dout := randVec(r, nq, 1)
			dq, dq0 := prefilled(r, nq)
			dk, dk0 := prefilled(r, nk)
			dv, dv0 := prefilled(r, nk)
			AttentionBackward(s, dq, dk, dv, dout, q, k, v, out, lse, scratch)
			if !tc.fd {
				return
			}
			wt := to64(dout)
			checkGrad(t, "dq", dq, dq0, fdGrad(f, in, wt, 0), 1e-3)
			checkGrad(t, "dk", dk, dk0, fdGrad(f, in, wt, 1), 1e-3)
			checkGrad(t, "dv", dv, dv0, fdGrad(f, in, wt, 2), 1e-3)
		})
	}
}

func TestAttentionShapeErrors(t *testing.T) {
	if err := (AttnShape{B: 1, T: 4, NH: 3, NKV: 2, D: 4}).Validate(); err == nil {
		t.Error("NH not a multiple of NKV: want an error")
	}
	if err := (AttnShape{B: 1, T: 0, NH: 2, NKV: 2, D: 4}).Validate(); err == nil {
		t.Error("T = 0: want an error")
	}
	defer func() {
		if recover() == nil {
			t.Error("short scratch: want a panic")
		}
	}()
	s := AttnShape{B: 1, T: 4, NH: 2, NKV: 2, D: 4}
	x := make([]float32, 32)
	AttentionForward(s, x, nil, x, x, x, make([]float32, 3))
}

// TestDecodeAttention checks generation against the training kernel: the
// rows of a full causal pass equal decode passes over a filled cache, one
// position at a time and several at once.
func TestDecodeAttention(t *testing.T) {
	s := AttnShape{B: 1, T: 150, NH: 6, NKV: 2, D: 5}
	r := newRand(11)
	nq, nk := s.T*s.NH*s.D, s.T*s.NKV*s.D
	q, k, v := randVec(r, nq, 1.5), randVec(r, nk, 1.5), randVec(r, nk, 1)
	full := to64(q)
	want := refAttention(s, full, to64(k), to64(v))
	const maxT = 160
	kc, vc := make([]float32, maxT*s.NKV*s.D), make([]float32, maxT*s.NKV*s.D)
	copy(kc, k)
	copy(vc, v)
	scratch := make([]float32, DecodeScratchSize(s.NH, 140, maxT))
	row := s.NH * s.D
	// Single tokens, a few at once, and a chunked prefill longer than one
	// query block.
	for _, step := range []struct{ pos0, nNew int }{{0, 1}, {1, 1}, {2, 4}, {6, 3}, {9, 140}, {149, 1}} {
		out := make([]float32, step.nNew*row)
		DecodeAttention(out, q[step.pos0*row:], kc, vc, step.nNew, step.pos0, s.NH, s.NKV, s.D, scratch)
		if e := maxAbsErr(out, want[step.pos0*row:(step.pos0+step.nNew)*row]); e > 2e-5 {
			t.Errorf("positions [%d,%d): max error %.3g", step.pos0, step.pos0+step.nNew, e)
		}
	}
	// A sliding window, scale and soft cap give the rows of the masked pass.
	ms := s
	ms.Window, ms.Scale, ms.SoftCap = 37, 0.4, 3
	want = refAttention(ms, full, to64(k), to64(v))
	for _, step := range []struct{ pos0, nNew int }{{0, 1}, {1, 2}, {3, 80}, {83, 66}, {149, 1}} {
		out := make([]float32, step.nNew*row)
		DecodeAttentionMasked(ms, out, q[step.pos0*row:], kc, vc, step.nNew, step.pos0, scratch)
		if e := maxAbsErr(out, want[step.pos0*row:(step.pos0+step.nNew)*row]); e > 2e-5 {
			t.Errorf("masked: positions [%d,%d): max error %.3g", step.pos0, step.pos0+step.nNew, e)
		}
	}
}

// TestAttentionStrided runs attention on q, k, v viewed inside one fused
// q|k|v projection (and RoPE on its q|k heads) and checks that it matches
// the packed layout.
func TestAttentionStrided(t *testing.T) {
	s := AttnShape{B: 2, T: 67, NH: 4, NKV: 2, D: 6}
	r := newRand(12)
	rows, ld := s.B*s.T, (s.NH+2*s.NKV)*s.D
	qkv := randVec(r, rows*ld, 1.5)
	q, k, v := make([]float32, rows*s.NH*s.D), make([]float32, rows*s.NKV*s.D), make([]float32, rows*s.NKV*s.D)
	for i := 0; i < rows; i++ {
		copy(q[i*s.NH*s.D:], qkv[i*ld:i*ld+s.NH*s.D])
		copy(k[i*s.NKV*s.D:], qkv[i*ld+s.NH*s.D:i*ld+(s.NH+s.NKV)*s.D])
		copy(v[i*s.NKV*s.D:], qkv[i*ld+(s.NH+s.NKV)*s.D:(i+1)*ld])
	}
	rp, err := NewRoPE(s.D, s.T, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	rp.Forward(qkv, qkv, s.B, s.T, s.NH+s.NKV, ld, nil)
	rp.Forward(q, q, s.B, s.T, s.NH, 0, nil)
	rp.Forward(k, k, s.B, s.T, s.NKV, 0, nil)

	scratch := make([]float32, s.ScratchSize())
	out, lse := make([]float32, rows*s.NH*s.D), make([]float32, s.SavedSize())
	AttentionForward(s, out, lse, q, k, v, scratch)
	dout := randVec(r, len(out), 1)
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	AttentionBackward(s, dq, dk, dv, dout, q, k, v, out, lse, scratch)

	// Output rows with a stride too: every other row slot of a wider buffer.
	fs := s
	fs.LdQ, fs.LdKV, fs.LdOut = ld, ld, 2*s.NH*s.D
	fout, flse := make([]float32, rows*fs.LdOut), make([]float32, s.SavedSize())
	qo, ko, vo := 0, s.NH*s.D, (s.NH+s.NKV)*s.D
	AttentionForward(fs, fout, flse, qkv[qo:], qkv[ko:], qkv[vo:], scratch)
	fdout := make([]float32, len(fout))
	for i := 0; i < rows; i++ {
		copy(fdout[i*fs.LdOut:], dout[i*s.NH*s.D:(i+1)*s.NH*s.D])
	}
	dqkv := make([]float32, len(qkv))
	AttentionBackward(fs, dqkv[qo:], dqkv[ko:], dqkv[vo:], fdout, qkv[qo:], qkv[ko:], qkv[vo:], fout, flse, scratch)
	// The matrix products see different leading dimensions, which a kernel
	// may block differently, so compare to rounding rather than bit for bit.
	near := func(what string, got, want []float32) {
		t.Helper()
		if e := maxAbsErr(got, to64(want)); e > 1e-5 {
			t.Fatalf("%s: max difference %.3g between strided and packed layouts", what, e)
		}
	}
	for i := 0; i < rows; i++ {
		near("out", fout[i*fs.LdOut:i*fs.LdOut+s.NH*s.D], out[i*s.NH*s.D:(i+1)*s.NH*s.D])
		near("dq", dqkv[i*ld:i*ld+s.NH*s.D], dq[i*s.NH*s.D:(i+1)*s.NH*s.D])
		near("dk", dqkv[i*ld+ko:i*ld+vo], dk[i*s.NKV*s.D:(i+1)*s.NKV*s.D])
		near("dv", dqkv[i*ld+vo:(i+1)*ld], dv[i*s.NKV*s.D:(i+1)*s.NKV*s.D])
	}
	near("lse", flse, lse)
}
