package nn

import (
	"cmp"
	"fmt"
	"math"
	"runtime"

	"github.com/crucible-net/crucible/ml/kernel"
)

// AttnShape describes a batch for causal self-attention: B sequences of T
// tokens, NH query heads and NKV key/value heads (grouped-query attention;
// NH must be a multiple of NKV, and NKV == NH is plain multi-head
// attention), each of width D.
//
// Layouts: q is [B, T, NH, D]; k and v are [B, T, NKV, D]; the output is
// [B, T, NH·D] (the same memory layout as q). Query head h reads key/value
// head h / (NH/NKV), as in transformers' repeat_kv. The mask is causal, and
// with Window > 0 also a sliding window. Token rows may be strided: LdQ, LdKV and LdOut are the distances in floats between
// consecutive token rows of q (and dq), of k and v (and dk, dv), and of the
// output (and its gradient). Zero means packed (NH·D, NKV·D, NH·D). Strides
// let q, k and v be views into one fused [B·T, (NH+2·NKV)·D] projection.
type AttnShape struct {
	B, T, NH, NKV, D int
	LdQ, LdKV, LdOut int
	// Window, when positive, limits each query to the Window most recent
	// positions, itself included: query i sees keys j with i−Window < j ≤ i
	// (the sliding-window layers of Mistral, Gemma 2/3, Phi-3 and Qwen2).
	// Only the key blocks inside the window are computed.
	Window int
	// Scale multiplies q·kᵀ before the softmax; 0 means 1/√D. Gemma uses
	// query_pre_attn_scalar^(−1/2).
	Scale float32
	// SoftCap, when positive, caps the scaled scores before the mask:
	// s → SoftCap·tanh(s/SoftCap) (Gemma 2's attn_logit_softcapping).
	SoftCap float32
	// Prec is the arithmetic of the score and output products (q·kᵀ, p·v
	// and their gradients); the softmax stays float32.
	Prec kernel.Precision
}

// scale is the factor applied to q·kᵀ.
func (s AttnShape) scale() float32 {
	if s.Scale != 0 {
		return s.Scale
	}
	return float32(1 / math.Sqrt(float64(s.D)))
}

// firstKey is the first key position query position i attends to.
func (s AttnShape) firstKey(i int) int {
	if s.Window > 0 {
		return max(0, i-s.Window+1)
	}
	return 0
}

func (s AttnShape) ldq() int  { return cmp.Or(s.LdQ, s.NH*s.D) }
func (s AttnShape) ldkv() int { return cmp.Or(s.LdKV, s.NKV*s.D) }
func (s AttnShape) ldo() int  { return cmp.Or(s.LdOut, s.NH*s.D) }

// span is the number of floats a [B·T rows, width] operand with row stride
// ld covers.
func (s AttnShape) span(ld, width int) int { return (s.B*s.T-1)*ld + width }

// attnBlock is the number of query rows processed together: the score
// block [attnBlock, T] stays in cache, and causal masking skips the key
// columns past the block's last row.
const attnBlock = 64

// Validate reports a shape that the attention functions cannot run.
func (s AttnShape) Validate() error {
	if s.B <= 0 || s.T <= 0 || s.NH <= 0 || s.NKV <= 0 || s.D <= 0 {
		return fmt.Errorf("attention: shape %+v has a non-positive dimension", s)
	}
	if s.NH%s.NKV != 0 {
		return fmt.Errorf("attention: %d query heads are not a multiple of %d key/value heads", s.NH, s.NKV)
	}
	if s.ldq() < s.NH*s.D || s.ldkv() < s.NKV*s.D || s.ldo() < s.NH*s.D {
		return fmt.Errorf("attention: row strides q %d, kv %d, out %d are shorter than the rows", s.ldq(), s.ldkv(), s.ldo())
	}
	if s.Window < 0 || !(s.SoftCap >= 0) || math.IsNaN(float64(s.Scale)) || math.IsInf(float64(s.Scale), 0) || math.IsInf(float64(s.SoftCap), 0) {
		return fmt.Errorf("attention: window %d, scale %v and soft cap %v must be non-negative and finite", s.Window, s.Scale, s.SoftCap)
	}
	return nil
}

// SavedSize is the number of floats AttentionForward saves for
// AttentionBackward: the log-sum-exp of every score row, [B, NH, T]. The
// probabilities themselves are recomputed in the backward pass, so the
// saved state grows with T, not T².
func (s AttnShape) SavedSize() int { return s.B * s.NH * s.T }

// ScratchSize is the number of floats of scratch AttentionForward and
// AttentionBackward need: two [min(64,T), T] blocks per worker, for
// min(GOMAXPROCS, B·NH) workers, and, for grouped-query attention
// (NH > NKV), 2·B·NH·T·D floats in which the backward pass keeps each query
// head's contribution to dk and dv until it adds them up in head order
// (this lets it run every query head in parallel and stay deterministic).
// Scratch holds nothing between calls, so one buffer can serve every layer.
// A larger buffer is fine; a smaller one (say, allocated under a smaller
// GOMAXPROCS) runs with fewer workers.
func (s AttnShape) ScratchSize() int {
	return s.partialSize() + s.perWorker()*max(1, min(runtime.GOMAXPROCS(0), s.B*s.NH))
}

func (s AttnShape) perWorker() int { return 2 * min(attnBlock, s.T) * s.T }

// partialSize is the backward pass's per-head dk and dv space (GQA only).
func (s AttnShape) partialSize() int {
	if s.NH == s.NKV {
		return 0
	}
	return 2 * s.B * s.NH * s.T * s.D
}

// check validates the shape and returns the number of workers the scratch
// (less the reserved floats at its start) has room for.
func (s AttnShape) check(op string, scratch []float32, reserved int) int {
	if err := s.Validate(); err != nil {
		panic("nn." + op + ": " + err.Error())
	}
	w := (len(scratch) - reserved) / s.perWorker()
	if w < 1 {
		panic(fmt.Sprintf("nn.%s: scratch has %d floats, need at least %d (see AttnShape.ScratchSize)", op, len(scratch), reserved+s.perWorker()))
	}
	return w
}

// runTasks runs task(i, scratch) for i in [0, n) on up to `workers`
// workers with static round-robin assignment; each worker owns one
// perWorker-sized slice of scratch. The result of a task never depends on
// which worker runs it.
func runTasks(n, workers, per int, scratch []float32, task func(i int, scr []float32)) {
	workers = max(1, min(workers, n))
	kernel.ParallelFor(workers, 1, func(lo, hi int) {
		for w := lo; w < hi; w++ {
			scr := scratch[w*per : (w+1)*per]
			for i := w; i < n; i += workers {
				task(i, scr)
			}
		}
	})
}

// AttentionForward computes causal scaled dot-product attention,
// out = softmax(cap(scale·q·kᵀ) + mask)·v per sequence and head (scale
// 1/√D, no cap and a plain causal mask unless the shape says otherwise), into out
// [B, T, NH·D] (overwritten). lse [B, NH, T] receives the row log-sum-exps
// that AttentionBackward needs; it may be nil when no backward will follow.
// scratch must hold at least 2·min(64,T)·T floats (see ScratchSize).
func AttentionForward(s AttnShape, out, lse, q, k, v, scratch []float32) {
	workers := s.check("AttentionForward", scratch, 0)
	B, T, NH, NKV, D := s.B, s.T, s.NH, s.NKV, s.D
	ldq, ldk, ldo := s.ldq(), s.ldkv(), s.ldo()
	need("AttentionForward", "q", q, s.span(ldq, NH*D))
	need("AttentionForward", "k", k, s.span(ldk, NKV*D))
	need("AttentionForward", "v", v, s.span(ldk, NKV*D))
	need("AttentionForward", "out", out, s.span(ldo, NH*D))
	needOpt("AttentionForward", "lse", lse, s.SavedSize())
	scale := s.scale()
	group := NH / NKV
	runTasks(B*NH, workers, s.perWorker(), scratch, func(task int, scr []float32) {
		b, h := task/NH, task%NH
		qb := b*T*ldq + h*D
		ob := b*T*ldo + h*D
		kb := b*T*ldk + (h/group)*D
		var inv [attnBlock]float32
		for r0 := 0; r0 < T; r0 += attnBlock {
			r1 := min(r0+attnBlock, T)
			c0 := s.firstKey(r0) // keys before c0 are outside every row's window
			m, nc := r1-r0, r1-c0
			sc := scr[:m*nc]
			gemmP(s.Prec, false, true, m, nc, D, scale, q[qb+r0*ldq:], ldq, k[kb+c0*ldk:], ldk, 0, sc, nc)
			for i := 0; i < m; i++ {
				row := sc[i*nc : (i+1)*nc]
				mx, sum := expMaskedRow(row, s.firstKey(r0+i)-c0, r0+i+1-c0, s.SoftCap)
				inv[i] = 1 / sum
				if lse != nil {
					lse[(b*NH+h)*T+r0+i] = mx + float32(math.Log(float64(sum)))
				}
			}
			// The rows of P are left unnormalized; normalizing the D outputs
			// of a row is cheaper than the up to T probabilities.
			o := out[ob+r0*ldo:]
			gemmP(s.Prec, false, false, m, D, nc, 1, sc, nc, v[kb+c0*ldk:], ldk, 0, o, ldo)
			for i := 0; i < m; i++ {
				or := o[i*ldo : i*ldo+D]
				for d := range or {
					or[d] *= inv[i]
				}
			}
		}
	})
}

// expMaskedRow replaces the visible scores x = row[lo:hi] by e^(x−max)
// (capping them first when softCap > 0), zeroes the rest, and returns the
// maximum and the sum of the exponentials.
func expMaskedRow(row []float32, lo, hi int, softCap float32) (mx, sum float32) {
	vis := row[lo:hi]
	if softCap > 0 {
		capScores(vis, softCap)
	}
	mx = vis[0]
	for _, x := range vis[1:] {
		if x > mx {
			mx = x
		}
	}
	sum = expShift(vis, vis, -mx)
	clear(row[:lo])
	clear(row[hi:])
	return mx, sum
}

// capScores applies x → c·tanh(x/c) in place.
func capScores(x []float32, c float32) {
	for i, v := range x {
		x[i] = c * float32(math.Tanh(float64(v/c)))
	}
}

// softmaxMaskedRow is expMaskedRow followed by normalization: the row
// becomes probabilities. It returns the log-sum-exp of the visible scores.
func softmaxMaskedRow(row []float32, lo, hi int, softCap float32) float32 {
	mx, sum := expMaskedRow(row, lo, hi, softCap)
	scaleTo(row[lo:hi], row[lo:hi], 1/sum)
	return mx + float32(math.Log(float64(sum)))
}

// AttentionBackward accumulates the gradients of AttentionForward into dq
// [B, T, NH, D], dk and dv [B, T, NKV, D], from dout [B, T, NH·D], the
// forward's inputs q, k, v, its output out and its saved lse. The
// probabilities are recomputed block by block from lse. Work is parallel
// over (sequence, query head). With grouped-query attention each query
// head's share of dk and dv goes to scratch first, and the shares are then
// added in head order, so the result is deterministic and does not depend
// on the number of workers.
func AttentionBackward(s AttnShape, dq, dk, dv, dout, q, k, v, out, lse, scratch []float32) {
	ps := s.partialSize()
	workers := s.check("AttentionBackward", scratch, ps)
	B, T, NH, NKV, D := s.B, s.T, s.NH, s.NKV, s.D
	ldq, ldk, ldo := s.ldq(), s.ldkv(), s.ldo()
	for _, o := range []struct {
		name string
		x    []float32
		n    int
	}{{"q", q, s.span(ldq, NH*D)}, {"dq", dq, s.span(ldq, NH*D)}, {"out", out, s.span(ldo, NH*D)}, {"dout", dout, s.span(ldo, NH*D)},
		{"k", k, s.span(ldk, NKV*D)}, {"v", v, s.span(ldk, NKV*D)}, {"dk", dk, s.span(ldk, NKV*D)}, {"dv", dv, s.span(ldk, NKV*D)},
		{"lse", lse, s.SavedSize()}} {
		need("AttentionBackward", o.name, o.x, o.n)
	}
	group := NH / NKV
	partial, work := scratch[:ps], scratch[ps:]
	runTasks(B*NH, workers, s.perWorker(), work, func(task int, scr []float32) {
		b, h := task/NH, task%NH
		kb := b*T*ldk + (h/group)*D
		t := headGrads{dk: dk[kb:], dv: dv[kb:], ld: ldk}
		if ps > 0 {
			// This head's share of dk and dv: [T, D] each, added up below.
			hb := (b*NH + h) * T * D
			t = headGrads{dk: partial[hb : hb+T*D], dv: partial[ps/2+hb : ps/2+hb+T*D], ld: D}
			clear(t.dk)
			clear(t.dv)
		}
		s.backwardHead(b, h, t, dq, dout, q, k, v, out, lse, scr)
	})
	if ps == 0 {
		return
	}
	// dk[b, t, kv] += Σ over the group's heads, in head order.
	kernel.ParallelFor(B*T, rowGrain(NH*D), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			b, t := row/T, row%T
			for kvh := 0; kvh < NKV; kvh++ {
				dst := row*ldk + kvh*D
				for h := kvh * group; h < (kvh+1)*group; h++ {
					src := ((b*NH+h)*T + t) * D
					accumulate(dk[dst:dst+D], partial[src:src+D])
					accumulate(dv[dst:dst+D], partial[ps/2+src:ps/2+src+D])
				}
			}
		}
	})
}

// headGrads is where one query head's dk and dv contributions go: the
// gradients themselves (plain attention) or that head's scratch (GQA).
type headGrads struct {
	dk, dv []float32
	ld     int
}

// backwardHead runs the backward pass of query head h of sequence b,
// adding into dq and into t.
func (s AttnShape) backwardHead(b, h int, t headGrads, dq, dout, q, k, v, out, lse, scr []float32) {
	T, NH, D := s.T, s.NH, s.D
	ldq, ldk, ldo := s.ldq(), s.ldkv(), s.ldo()
	scale := s.scale()
	bq := min(attnBlock, T)
	kb := b*T*ldk + (h/(NH/s.NKV))*D
	qb := b*T*ldq + h*D
	ob := b*T*ldo + h*D
	for r0 := 0; r0 < T; r0 += attnBlock {
		r1 := min(r0+attnBlock, T)
		c0 := s.firstKey(r0)
		m, nc := r1-r0, r1-c0
		p := scr[:m*nc]
		dp := scr[bq*T : bq*T+m*nc]
		gemmP(s.Prec, false, true, m, nc, D, scale, q[qb+r0*ldq:], ldq, k[kb+c0*ldk:], ldk, 0, p, nc)
		gemmP(s.Prec, false, true, m, nc, D, 1, dout[ob+r0*ldo:], ldo, v[kb+c0*ldk:], ldk, 0, dp, nc)
		for i := 0; i < m; i++ {
			lo, hi := s.firstKey(r0+i)-c0, r0+i+1-c0
			l := lse[(b*NH+h)*T+r0+i]
			pr, dr := p[i*nc:(i+1)*nc], dp[i*nc:(i+1)*nc]
			o := out[ob+(r0+i)*ldo : ob+(r0+i)*ldo+D]
			g := dout[ob+(r0+i)*ldo : ob+(r0+i)*ldo+D]
			var di float32
			for d, x := range o {
				di += x * g[d]
			}
			if s.SoftCap > 0 {
				cappedRowGrad(pr[lo:hi], dr[lo:hi], l, di, s.SoftCap)
			} else {
				expShift(pr[lo:hi], pr[lo:hi], -l)
				mulSub(dr[lo:hi], pr[lo:hi], di)
			}
			clear(pr[:lo])
			clear(dr[:lo])
			clear(pr[hi:])
			clear(dr[hi:])
		}
		gemmP(s.Prec, true, false, nc, D, m, 1, p, nc, dout[ob+r0*ldo:], ldo, 1, t.dv[c0*t.ld:], t.ld)
		gemmP(s.Prec, false, false, m, D, nc, scale, dp, nc, k[kb+c0*ldk:], ldk, 1, dq[qb+r0*ldq:], ldq)
		gemmP(s.Prec, true, false, nc, D, m, scale, dp, nc, q[qb+r0*ldq:], ldq, 1, t.dk[c0*t.ld:], t.ld)
	}
}

// cappedRowGrad turns the raw scaled scores s of one row into probabilities
// p = e^(c·tanh(s/c) − lse) and the score gradients dp into the gradient
// with respect to s: p·(dp − di)·(1 − tanh²(s/c)).
func cappedRowGrad(p, dp []float32, lse, di, c float32) {
	for j, v := range p {
		th := float32(math.Tanh(float64(v / c)))
		e := expf(c*th - lse)
		p[j] = e
		dp[j] = e * (dp[j] - di) * (1 - th*th)
	}
}
