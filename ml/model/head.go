package model

import (
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// The LM head and its loss. Logits exist only for a block of headRows
// scored positions by headCols vocabulary entries at a time: the first
// pass folds each block into the rows' running log-sum-exp (and, with that,
// their losses); for training, a second pass recomputes each block, turns
// it into its share of the gradient and backpropagates it into the head
// input and weights. Computing the logits twice costs a third more head
// FLOPs but lets every product of the head run on a thousand rows at
// once, which is what keeps them efficient (most of a small model's FLOPs
// are in its head), and bounds the head's memory by the block, whatever
// the vocabulary.

// headRows and headCols are the block's scored positions and vocabulary
// entries (variables so that tests can cross block edges on tiny models).
var (
	headRows = 1024
	headCols = 2048
	// headFuse allows the fused gradient of a frozen head (headFusedPass);
	// tests turn it off to compare against the two passes.
	headFuse = true
)

// headBuffers holds the head's per-block scratch for up to rows rows.
type headBuffers struct {
	x, dx   []float32 // gathered inputs and their gradient [rows, C]
	logits  []float32 // [rows, min(V, headCols)]
	capped  []float32 // FinalSoftcap: the capped logits of a block, kept for backward
	targets []int32
	lse, g  []float32
	state   nn.LSEState
}

func newHeadBuffers(c *Config, n int, train bool) headBuffers {
	rows, cols := min(n, headRows), min(c.Vocab, headCols)
	h := headBuffers{
		x: make([]float32, rows*c.Hidden), logits: make([]float32, rows*cols),
		targets: make([]int32, rows), lse: make([]float32, rows), g: make([]float32, rows),
		state: nn.LSEState{Max: make([]float32, rows), Sum: make([]float64, rows), Target: make([]float32, rows)},
	}
	if train {
		h.dx = make([]float32, rows*c.Hidden)
		if c.FinalSoftcap > 0 {
			h.capped = make([]float32, rows*cols)
		}
	}
	return h
}

// headLoss scores ws.lnf against labels: the cross-entropy of every scored
// position, summed (tokenLoss, when non-nil, receives each position's, 0
// where not scored). With dlnf non-nil it also writes dL/dlnf for the
// gradient of scale·Σ loss (rows not scored get 0) and adds the head
// weight gradient; seqWeights, when non-nil, scales each sequence's rows,
// and a batch's PositionWeight (ws.posWeight) each position's.
func (m *Model) headLoss(ws *workspace, labels []int32, dlnf []float32, scale float32, tokenLoss []float32, seqWeights []float32) Loss {
	c := &m.cfg
	C, V := c.Hidden, c.Vocab
	hb := &ws.head
	rows := ws.rows[:0]
	for i, t := range labels {
		if t != IgnoreIndex {
			rows = append(rows, int32(i))
		}
	}
	ws.rows = rows
	if dlnf != nil {
		clear(dlnf)
	}
	if tokenLoss != nil {
		clear(tokenLoss)
	}
	var total float64
	R, vb := len(hb.targets), min(V, headCols)
	// Without a head weight gradient (a frozen head, as in LoRA) the
	// gradient needs no second pass over the logits: each block's
	// e^(logit − running max)·W is summed as it is computed (see
	// nn.LSEState.UpdateExp), a third fewer head products. The head's
	// weight gradient needs the final softmax of every block, so full
	// fine-tuning keeps two passes, as does a final softcap.
	fused := headFuse && dlnf != nil && m.gHead == nil && hb.capped == nil && c.FinalSoftcap == 0
	for r0 := 0; r0 < len(rows); r0 += R {
		chunk := rows[r0:min(r0+R, len(rows))]
		n := len(chunk)
		hx, targets := hb.x[:n*C], hb.targets[:n]
		for i, r := range chunk {
			copy(hx[i*C:(i+1)*C], ws.lnf[int(r)*C:(int(r)+1)*C])
			targets[i] = labels[r]
		}
		st := &hb.state
		st.Reset(n)
		if fused {
			// The gradient pass folded into this one (headGradFused).
			m.headFusedPass(ws, n, hx, targets)
		}
		for v0 := 0; v0 < V && !fused; v0 += vb {
			w := min(vb, V-v0)
			s := hb.logits[:n*w]
			m.gemmW(false, true, n, w, C, 1, hx, C, tail(m.head, v0*C), tail(m.head16, v0*C), C, 0, s, w)
			m.softcapLogits(s, nil)
			st.Update(s, n, w, v0, targets)
		}
		for i, r := range chunk {
			l := st.Loss(i)
			total += l
			if tokenLoss != nil {
				tokenLoss[r] = float32(l)
			}
		}
		if dlnf == nil {
			continue
		}
		if fused {
			m.headGradFused(ws, chunk, hx, dlnf, scale, seqWeights)
			continue
		}
		lse, g := hb.lse[:n], hb.g[:n]
		for i, r := range chunk {
			lse[i] = float32(st.LSE(i))
			w := scale
			if ws.posWeight != nil {
				w *= ws.posWeight(int(r), -st.Loss(i))
			}
			if seqWeights != nil {
				w *= seqWeights[int(r)/ws.T]
			}
			g[i] = w
		}
		dhx := hb.dx[:n*C]
		for v0 := 0; v0 < V; v0 += vb {
			w := min(vb, V-v0)
			s := hb.logits[:n*w]
			m.gemmW(false, true, n, w, C, 1, hx, C, tail(m.head, v0*C), tail(m.head16, v0*C), C, 0, s, w)
			var capped []float32
			if hb.capped != nil {
				capped = hb.capped[:n*w]
			}
			m.softcapLogits(s, capped)
			nn.CrossEntropyGradBlock(s, n, w, v0, targets, lse, g)
			m.softcapBwd(s, capped)
			beta := float32(1)
			if v0 == 0 {
				beta = 0
			}
			m.gemmW(false, false, n, C, w, 1, s, w, tail(m.head, v0*C), tail(m.head16, v0*C), C, beta, dhx, C)
			if m.gHead != nil {
				gemm(m.prec, true, false, w, C, n, 1, s, w, hx, C, 1, m.gHead[v0*C:], C)
			}
		}
		for i, r := range chunk {
			copy(dlnf[int(r)*C:(int(r)+1)*C], dhx[i*C:(i+1)*C])
		}
	}
	return Loss{Sum: total, Count: len(rows)}
}

// tail is x[i:], or nil for a nil x.
func tail[T any](x []T, i int) []T {
	if x == nil {
		return nil
	}
	return x[i:]
}

// headFusedPass is the forward pass over the vocabulary blocks of one chunk
// of n rows (inputs hx) when the gradient is fused into it: it folds each
// block into the chunk's log-sum-exp state and sums e^(logit − running
// max)·W into hb.dx, rescaling the sum as a row's maximum grows.
func (m *Model) headFusedPass(ws *workspace, n int, hx []float32, targets []int32) {
	c := &m.cfg
	C, V := c.Hidden, c.Vocab
	hb := &ws.head
	vb := min(V, headCols)
	acc, rescale, st := hb.dx[:n*C], hb.g[:n], &hb.state
	for v0 := 0; v0 < V; v0 += vb {
		w := min(vb, V-v0)
		s := hb.logits[:n*w]
		m.gemmW(false, true, n, w, C, 1, hx, C, tail(m.head, v0*C), tail(m.head16, v0*C), C, 0, s, w)
		st.UpdateExp(s, n, w, v0, targets, rescale)
		beta := float32(1)
		if v0 == 0 {
			beta = 0
		} else {
			scaleRows(acc, rescale, n, C)
		}
		m.gemmW(false, false, n, C, w, 1, s, w, tail(m.head, v0*C), tail(m.head16, v0*C), C, beta, acc, C)
	}
}

// headGradFused finishes the fused gradient of one chunk: row i's dL/dhx is
// w_i·(hb.dx_i/Sum_i − W[target_i]), w_i being the row's loss weight
// (scale, times its position and sequence weights), copied into dlnf.
func (m *Model) headGradFused(ws *workspace, chunk []int32, hx, dlnf []float32, scale float32, seqWeights []float32) {
	C := m.cfg.Hidden
	hb := &ws.head
	st := &hb.state
	g := hb.g[:len(chunk)]
	for i, r := range chunk {
		w := scale
		if ws.posWeight != nil {
			w *= ws.posWeight(int(r), -st.Loss(i))
		}
		if seqWeights != nil {
			w *= seqWeights[int(r)/ws.T]
		}
		g[i] = w
	}
	kernel.ParallelFor(len(chunk), rowGrain(C), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			r := int(chunk[i])
			out := dlnf[r*C : (r+1)*C]
			if g[i] == 0 {
				clear(out)
				continue
			}
			acc := hb.dx[i*C : (i+1)*C]
			t := int(hb.targets[i])
			a := g[i] / float32(st.Sum[i])
			if m.head != nil {
				wt := m.head[t*C : (t+1)*C]
				for k := range out {
					out[k] = a*acc[k] - g[i]*wt[k]
				}
				continue
			}
			wt := m.head16[t*C : (t+1)*C]
			for k := range out {
				out[k] = a*acc[k] - g[i]*kernel.BF16ToFloat32(wt[k])
			}
		}
	})
}

// scaleRows multiplies each of n rows of x (width c) by its factor.
func scaleRows(x, f []float32, n, c int) {
	kernel.ParallelFor(n, rowGrain(c), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			if s := f[r]; s != 1 {
				row := x[r*c : (r+1)*c]
				for k := range row {
					row[k] *= s
				}
			}
		}
	})
}
