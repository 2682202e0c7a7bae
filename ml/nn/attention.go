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
// head h / (NH/NKV), as in transformers' repeat_kv. The mask is plain
// causal: there is no sliding window (Mistral's window changes nothing for
// sequences no longer than the window). Token rows may be
// strided: LdQ, LdKV and LdOut are the distances in floats between
// consecutive token rows of q (and dq), of k and v (and dk, dv), and of the
// output (and its gradient). Zero means packed (NH·D, NKV·D, NH·D). Strides
// let q, k and v be views into one fused [B·T, (NH+2·NKV)·D] projection.
type AttnShape struct {
	B, T, NH, NKV, D int
	LdQ, LdKV, LdOut int
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
// out = softmax(q·kᵀ/√D + causal mask)·v per sequence and head, into out
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
	scale := float32(1 / math.Sqrt(float64(D)))
	group := NH / NKV
	runTasks(B*NH, workers, s.perWorker(), scratch, func(task int, scr []float32) {
		b, h := task/NH, task%NH
		qb := b*T*ldq + h*D
		ob := b*T*ldo + h*D
		kb := b*T*ldk + (h/group)*D
		var inv [attnBlock]float32
		for r0 := 0; r0 < T; r0 += attnBlock {
			r1 := min(r0+attnBlock, T)
			m, nc := r1-r0, r1
			sc := scr[:m*nc]
			gemm(false, true, m, nc, D, scale, q[qb+r0*ldq:], ldq, k[kb:], ldk, 0, sc, nc)
			for i := 0; i < m; i++ {
				row := sc[i*nc : (i+1)*nc]
				mx, sum := expCausalRow(row, r0+i+1)
				inv[i] = 1 / sum
				if lse != nil {
					lse[(b*NH+h)*T+r0+i] = mx + float32(math.Log(float64(sum)))
				}
			}
			// The rows of P are left unnormalized; normalizing the D outputs
			// of a row is cheaper than the up to T probabilities.
			o := out[ob+r0*ldo:]
			gemm(false, false, m, D, nc, 1, sc, nc, v[kb:], ldk, 0, o, ldo)
			for i := 0; i < m; i++ {
				or := o[i*ldo : i*ldo+D]
				for d := range or {
					or[d] *= inv[i]
				}
			}
		}
	})
}

// expCausalRow replaces the first `valid` scores x of row by e^(x−max),
// zeroes the rest, and returns the maximum and the sum of the exponentials.
func expCausalRow(row []float32, valid int) (mx, sum float32) {
	mx = row[0]
	for _, x := range row[1:valid] {
		if x > mx {
			mx = x
		}
	}
	sum = expShift(row[:valid], row[:valid], -mx)
	clear(row[valid:])
	return mx, sum
}

// softmaxCausalRow is expCausalRow followed by normalization: the row
// becomes probabilities. It returns the log-sum-exp of the valid scores.
func softmaxCausalRow(row []float32, valid int) float32 {
	mx, sum := expCausalRow(row, valid)
	scaleTo(row[:valid], row[:valid], 1/sum)
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
	scale := float32(1 / math.Sqrt(float64(D)))
	bq := min(attnBlock, T)
	kb := b*T*ldk + (h/(NH/s.NKV))*D
	qb := b*T*ldq + h*D
	ob := b*T*ldo + h*D
	for r0 := 0; r0 < T; r0 += attnBlock {
		r1 := min(r0+attnBlock, T)
		m, nc := r1-r0, r1
		p := scr[:m*nc]
		dp := scr[bq*T : bq*T+m*nc]
		gemm(false, true, m, nc, D, scale, q[qb+r0*ldq:], ldq, k[kb:], ldk, 0, p, nc)
		gemm(false, true, m, nc, D, 1, dout[ob+r0*ldo:], ldo, v[kb:], ldk, 0, dp, nc)
		for i := 0; i < m; i++ {
			valid := r0 + i + 1
			l := lse[(b*NH+h)*T+r0+i]
			pr, dr := p[i*nc:(i+1)*nc], dp[i*nc:(i+1)*nc]
			o := out[ob+(r0+i)*ldo : ob+(r0+i)*ldo+D]
			g := dout[ob+(r0+i)*ldo : ob+(r0+i)*ldo+D]
			var di float32
			for d, x := range o {
				di += x * g[d]
			}
			expShift(pr[:valid], pr[:valid], -l)
			mulSub(dr[:valid], pr[:valid], di)
			clear(pr[valid:])
			clear(dr[valid:])
		}
		gemm(true, false, nc, D, m, 1, p, nc, dout[ob+r0*ldo:], ldo, 1, t.dv, t.ld)
		gemm(false, false, m, D, nc, scale, dp, nc, k[kb:], ldk, 1, dq[qb+r0*ldq:], ldq)
		gemm(true, false, nc, D, m, scale, dp, nc, q[qb+r0*ldq:], ldq, 1, t.dk, t.ld)
	}
}
