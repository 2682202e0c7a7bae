package nn

import (
	"math"
	"testing"
)

// These tests wire the operations into whole transformer blocks, the way a
// model does, and check the block's input and parameter gradients against
// finite differences of the block itself: they catch mistakes in the
// conventions (what accumulates, what overwrites, strides, layouts) that
// per-operation tests cannot.

// block is a transformer block with a forward pass returning its output
// and a backward pass accumulating gradients for dout into grads.
type block interface {
	params() [][]float32 // input first, then the parameters
	forward() []float32
	backward(dout []float32, grads [][]float32)
}

// checkBlock compares analytic gradients with float32 central differences
// of L = Σ w·out. The tolerance is loose (float32 differences), enough to
// catch wiring errors, which show up as O(1) errors.
func checkBlock(t *testing.T, name string, b block) {
	t.Helper()
	r := newRand(21)
	out := b.forward()
	w := randVec(r, len(out), 1)
	loss := func() float64 {
		o := b.forward()
		var s float64
		for i := range o {
			s += float64(w[i]) * float64(o[i])
		}
		return s
	}
	ps := b.params()
	grads := make([][]float32, len(ps))
	for i, p := range ps {
		grads[i] = make([]float32, len(p))
	}
	b.forward()
	b.backward(w, grads)
	for pi, p := range ps {
		fd := make([]float64, len(p))
		for i := range p {
			old := p[i]
			const h = 1e-2
			p[i] = old + h
			lp := loss()
			p[i] = old - h
			lm := loss()
			p[i] = old
			fd[i] = (lp - lm) / (2 * h)
		}
		if e := relErr(grads[pi], fd); e > 2e-2 || math.IsNaN(e) {
			t.Errorf("%s: parameter %d: relative error %.3g against finite differences", name, pi, e)
		}
	}
}

// gpt2Block: x → LN → fused qkv (Conv1D) → attention → proj → +x → LN →
// fc (Conv1D) → GELU → proj → +.
type gpt2Block struct {
	B, T, C, H                        int
	x, ln1w, ln1b, wqkv, bqkv, wo, bo []float32
	ln2w, ln2b, wfc, bfc, wp, bp      []float32
	// activations
	h1, m1, r1, qkv, att, lse, a, x2, h2, m2, r2, fc, g, out, scr []float32
}

func newGPT2Block(B, T, C, H int) *gpt2Block {
	r := newRand(22)
	N := B * T
	b := &gpt2Block{B: B, T: T, C: C, H: H}
	b.x = randVec(r, N*C, 1)
	b.ln1w, b.ln1b = randVec(r, C, 1), randVec(r, C, 0.5)
	b.wqkv, b.bqkv = randVec(r, C*3*C, 0.5), randVec(r, 3*C, 0.5)
	b.wo, b.bo = randVec(r, C*C, 0.5), randVec(r, C, 0.5)
	b.ln2w, b.ln2b = randVec(r, C, 1), randVec(r, C, 0.5)
	b.wfc, b.bfc = randVec(r, C*4*C, 0.5), randVec(r, 4*C, 0.5)
	b.wp, b.bp = randVec(r, 4*C*C, 0.3), randVec(r, C, 0.5)
	f := func(n int) []float32 { return make([]float32, n) }
	b.h1, b.m1, b.r1, b.qkv, b.att = f(N*C), f(N), f(N), f(N*3*C), f(N*C)
	b.lse, b.a, b.x2, b.h2, b.m2, b.r2 = f(b.shape().SavedSize()), f(N*C), f(N*C), f(N*C), f(N), f(N)
	b.fc, b.g, b.out, b.scr = f(N*4*C), f(N*4*C), f(N*C), f(b.shape().ScratchSize())
	return b
}

func (b *gpt2Block) shape() AttnShape {
	return AttnShape{B: b.B, T: b.T, NH: b.H, NKV: b.H, D: b.C / b.H, LdQ: 3 * b.C, LdKV: 3 * b.C}
}

func (b *gpt2Block) params() [][]float32 {
	return [][]float32{b.x, b.ln1w, b.ln1b, b.wqkv, b.bqkv, b.wo, b.bo, b.ln2w, b.ln2b, b.wfc, b.bfc, b.wp, b.bp}
}

func (b *gpt2Block) forward() []float32 {
	N, C := b.B*b.T, b.C
	LayerNormForward(b.h1, b.m1, b.r1, b.x, b.ln1w, b.ln1b, N, C, 1e-5)
	LinearForward(b.qkv, b.h1, b.wqkv, b.bqkv, N, C, 3*C, InOut)
	AttentionForward(b.shape(), b.att, b.lse, b.qkv, b.qkv[C:], b.qkv[2*C:], b.scr)
	LinearForward(b.a, b.att, b.wo, b.bo, N, C, C, InOut)
	Add(b.x2, b.x, b.a)
	LayerNormForward(b.h2, b.m2, b.r2, b.x2, b.ln2w, b.ln2b, N, C, 1e-5)
	LinearForward(b.fc, b.h2, b.wfc, b.bfc, N, C, 4*C, InOut)
	GELUForward(b.g, b.fc)
	LinearForward(b.out, b.g, b.wp, b.bp, N, 4*C, C, InOut)
	AddTo(b.out, b.x2)
	return b.out
}

func (b *gpt2Block) backward(dout []float32, gr [][]float32) {
	N, C := b.B*b.T, b.C
	f := func(n int) []float32 { return make([]float32, n) }
	dx, dln1w, dln1b, dwqkv, dbqkv, dwo, dbo := gr[0], gr[1], gr[2], gr[3], gr[4], gr[5], gr[6]
	dln2w, dln2b, dwfc, dbfc, dwp, dbp := gr[7], gr[8], gr[9], gr[10], gr[11], gr[12]
	dx2 := append(f(0), dout...) // residual: dout flows to x2 unchanged
	dg := f(N * 4 * C)
	LinearBackward(dg, dwp, dbp, dout, b.g, b.wp, N, 4*C, C, InOut)
	dfc := f(N * 4 * C)
	GELUBackward(dfc, dg, b.fc)
	dh2 := f(N * C)
	LinearBackward(dh2, dwfc, dbfc, dfc, b.h2, b.wfc, N, C, 4*C, InOut)
	LayerNormBackward(dx2, dln2w, dln2b, dh2, b.x2, b.ln2w, b.m2, b.r2, N, C)
	AddTo(dx, dx2) // residual into x
	datt := f(N * C)
	LinearBackward(datt, dwo, dbo, dx2, b.att, b.wo, N, C, C, InOut)
	dqkv := f(N * 3 * C)
	AttentionBackward(b.shape(), dqkv, dqkv[C:], dqkv[2*C:], datt, b.qkv, b.qkv[C:], b.qkv[2*C:], b.att, b.lse, b.scr)
	dh1 := f(N * C)
	LinearBackward(dh1, dwqkv, dbqkv, dqkv, b.h1, b.wqkv, N, C, 3*C, InOut)
	LayerNormBackward(dx, dln1w, dln1b, dh1, b.x, b.ln1w, b.m1, b.r1, N, C)
}

// llamaBlock: x → RMSNorm → fused qkv (nn.Linear, GQA) → RoPE on q|k →
// attention → o → +x → RMSNorm → fused gate|up → SwiGLU → down → +.
type llamaBlock struct {
	B, T, C, H, KV, D, I                  int
	rope                                  *RoPE
	x, n1, wqkv, bqkv, wo, n2, wgu, wdown []float32
	h1, r1, qkv, att, lse, x2, h2, r2     []float32
	gu, act, out, scr                     []float32
}

func newLlamaBlock(B, T, C, H, KV, I int) *llamaBlock {
	r := newRand(23)
	N, D := B*T, C/H
	q := (H + 2*KV) * D
	b := &llamaBlock{B: B, T: T, C: C, H: H, KV: KV, D: D, I: I}
	var err error
	if b.rope, err = NewRoPE(D, T+4, 10000, nil); err != nil {
		panic(err)
	}
	b.x = randVec(r, N*C, 1)
	b.n1, b.n2 = randVec(r, C, 1), randVec(r, C, 1)
	b.wqkv, b.bqkv = randVec(r, q*C, 0.5), randVec(r, q, 0.5)
	b.wo = randVec(r, C*H*D, 0.5)
	b.wgu, b.wdown = randVec(r, 2*I*C, 0.5), randVec(r, C*I, 0.5)
	f := func(n int) []float32 { return make([]float32, n) }
	b.h1, b.r1, b.qkv, b.att, b.lse = f(N*C), f(N), f(N*q), f(N*H*D), f(b.shape().SavedSize())
	b.x2, b.h2, b.r2, b.gu, b.act, b.out, b.scr = f(N*C), f(N*C), f(N), f(N*2*I), f(N*I), f(N*C), f(b.shape().ScratchSize())
	return b
}

func (b *llamaBlock) shape() AttnShape {
	ld := (b.H + 2*b.KV) * b.D
	return AttnShape{B: b.B, T: b.T, NH: b.H, NKV: b.KV, D: b.D, LdQ: ld, LdKV: ld}
}

func (b *llamaBlock) params() [][]float32 {
	return [][]float32{b.x, b.n1, b.wqkv, b.bqkv, b.wo, b.n2, b.wgu, b.wdown}
}

func (b *llamaBlock) views(qkv []float32) (q, k, v []float32) {
	return qkv, qkv[b.H*b.D:], qkv[(b.H+b.KV)*b.D:]
}

func (b *llamaBlock) forward() []float32 {
	N, C, HD, ld := b.B*b.T, b.C, b.H*b.D, (b.H+2*b.KV)*b.D
	RMSNormForward(b.h1, b.r1, b.x, b.n1, N, C, 1e-6)
	LinearForward(b.qkv, b.h1, b.wqkv, b.bqkv, N, C, ld, OutIn)
	b.rope.Forward(b.qkv, b.qkv, b.B, b.T, b.H+b.KV, ld, nil)
	q, k, v := b.views(b.qkv)
	AttentionForward(b.shape(), b.att, b.lse, q, k, v, b.scr)
	LinearForward(b.x2, b.att, b.wo, nil, N, HD, C, OutIn)
	AddTo(b.x2, b.x)
	RMSNormForward(b.h2, b.r2, b.x2, b.n2, N, C, 1e-6)
	LinearForward(b.gu, b.h2, b.wgu, nil, N, C, 2*b.I, OutIn)
	SwiGLURowsForward(b.act, b.gu, N, b.I)
	LinearForward(b.out, b.act, b.wdown, nil, N, b.I, C, OutIn)
	AddTo(b.out, b.x2)
	return b.out
}

func (b *llamaBlock) backward(dout []float32, gr [][]float32) {
	N, C, HD, ld := b.B*b.T, b.C, b.H*b.D, (b.H+2*b.KV)*b.D
	f := func(n int) []float32 { return make([]float32, n) }
	dx, dn1, dwqkv, dbqkv, dwo, dn2, dwgu, dwdown := gr[0], gr[1], gr[2], gr[3], gr[4], gr[5], gr[6], gr[7]
	dx2 := append(f(0), dout...)
	dact := f(N * b.I)
	LinearBackward(dact, dwdown, nil, dout, b.act, b.wdown, N, b.I, C, OutIn)
	dgu := f(N * 2 * b.I)
	SwiGLURowsBackward(dgu, dact, b.gu, N, b.I)
	dh2 := f(N * C)
	LinearBackward(dh2, dwgu, nil, dgu, b.h2, b.wgu, N, C, 2*b.I, OutIn)
	RMSNormBackward(dx2, dn2, dh2, b.x2, b.n2, b.r2, N, C)
	AddTo(dx, dx2)
	datt := f(N * HD)
	LinearBackward(datt, dwo, nil, dx2, b.att, b.wo, N, HD, C, OutIn)
	dqkv := f(N * ld)
	q, k, v := b.views(b.qkv)
	dq, dk, dv := b.views(dqkv)
	AttentionBackward(b.shape(), dq, dk, dv, datt, q, k, v, b.att, b.lse, b.scr)
	b.rope.BackwardInPlace(dqkv, b.B, b.T, b.H+b.KV, ld, nil)
	dh1 := f(N * C)
	LinearBackward(dh1, dwqkv, dbqkv, dqkv, b.h1, b.wqkv, N, C, ld, OutIn)
	RMSNormBackward(dx, dn1, dh1, b.x, b.n1, b.r1, N, C)
}

func TestBlockGradients(t *testing.T) {
	checkBlock(t, "gpt2", newGPT2Block(2, 5, 8, 2))
	checkBlock(t, "llama", newLlamaBlock(2, 5, 16, 4, 2, 10))
}
