package model

import (
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/nn"
)

// Sparse mixture-of-experts MLPs (Qwen3-MoE, Mixtral). A linear router
// scores the experts of each token; the softmax's top k experts (renormalized
// when the config says so) each run their gated MLP on the token, and the
// outputs are summed with the routing weights. Tokens are grouped by expert
// ("routed order"), so that each expert's projections are one matrix product
// over its rows. Training keeps, per layer, the router probabilities, the
// selection and the experts' gate|up pre-activations in routed order; the
// expert inputs and outputs are gathered and recomputed in backward.
//
// The load-balancing loss of transformers' load_balancing_loss_func (over
// every sparse layer's router, all tokens counted) joins the training
// gradient when the config has output_router_logits, weighted by
// router_aux_loss_coef; its value is reported by AuxLoss. The returned
// losses stay the cross-entropy.

// moeWS holds the mixture's activations and scratch.
type moeWS struct {
	probs [][]float32 // per slot [N, E]: router softmax
	sel   [][]int32   // per slot [N, K]: chosen experts, most probable first
	wts   [][]float32 // per slot [N, K]: routing weights
	order [][]int32   // per slot [N·K]: routed row r holds (token·K + slot)
	pos   [][]int32   // per slot [N·K]: the routed row of (token·K + slot)
	off   [][]int32   // per slot [E+1]: each expert's first routed row
	gu    [][]float32 // per slot [N·K, 2·I]: gate|up pre-activations in routed order
	loraU [][3][]float32

	logits, xg, yg, h []float32
	dyg, dxg, dh, dgu []float32
	dw, dp            []float32
	auxGrad           []float32 // [E]: d(weighted aux loss)/d(probability)
}

// newMoEWorkspace allocates the mixture's buffers for N rows.
func (m *Model) newMoEWorkspace(N, slots int, train bool) *moeWS {
	e := m.cfg.MoE
	E, K, I, C := e.Experts, e.TopK, e.Intermediate, m.cfg.Hidden
	mk := func(n int) []float32 { return make([]float32, n) }
	mw := &moeWS{}
	for range slots {
		mw.probs = append(mw.probs, mk(N*E))
		mw.sel = append(mw.sel, make([]int32, N*K))
		mw.wts = append(mw.wts, mk(N*K))
		mw.order = append(mw.order, make([]int32, N*K))
		mw.pos = append(mw.pos, make([]int32, N*K))
		mw.off = append(mw.off, make([]int32, E+1))
		mw.gu = append(mw.gu, mk(N*K*2*I))
		if train && m.lora != nil {
			r := m.lora.cfg.Rank
			mw.loraU = append(mw.loraU, [3][]float32{mk(N * K * r), mk(N * K * r), mk(N * K * r)})
		}
	}
	mw.logits, mw.xg, mw.yg, mw.h = mk(N*E), mk(N*K*C), mk(N*K*C), mk(N*K*I)
	if train {
		mw.dyg, mw.dxg, mw.dh, mw.dgu = mk(N*K*C), mk(N*K*C), mk(N*K*I), mk(N*K*2*I)
		mw.dw, mw.dp, mw.auxGrad = mk(N*K), mk(N*E), mk(E)
	}
	return mw
}

// expertLoRAU returns where expert module kind (0 gate, 1 up, 2 down) of
// layer slot s keeps x·Aᵀ for its rows starting at routed row o0.
func (m *Model) expertLoRAU(ws *workspace, s, kind, o0 int) []float32 {
	if m.lora == nil {
		return nil
	}
	if !ws.train {
		return ws.loraU[0]
	}
	return ws.moe.loraU[s][kind][o0*m.lora.cfg.Rank:]
}

// moeFwd writes (or with accumulate adds) the mixture of layer l applied to
// x [N, C] into y.
func (m *Model) moeFwd(ws *workspace, l int, x, y []float32, accumulate bool) {
	c := &m.cfg
	e, b, mw, s := c.MoE, m.blocks[l].moe, ws.moe, ws.slot(l)
	N, C := ws.B*ws.T, c.Hidden
	E, K, I := e.Experts, e.TopK, e.Intermediate
	probs, sel, wts := mw.probs[s][:N*E], mw.sel[s][:N*K], mw.wts[s][:N*K]
	m.linearFwd(b.router, x, C, mw.logits, E, N, false)
	nn.SoftmaxForward(probs, mw.logits[:N*E], N, E)
	kernel.ParallelFor(N, max(1, 1024/E), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			topK(probs[t*E:(t+1)*E], sel[t*K:(t+1)*K], wts[t*K:(t+1)*K], e.NormTopK)
		}
	})
	order, pos, off := mw.order[s][:N*K], mw.pos[s][:N*K], mw.off[s]
	route(sel, E, order, pos, off)
	m.gather(mw.xg, x, order, N*K, K, C)
	gu := mw.gu[s]
	for x := 0; x < E; x++ {
		o0, o1 := int(off[x]), int(off[x+1])
		n := o1 - o0
		if n == 0 {
			continue
		}
		ex := &b.experts[x]
		xg, g := mw.xg[o0*C:], gu[o0*2*I:o1*2*I]
		m.linearFwd(ex.ffInAll, xg, C, g, 2*I, n, false)
		for k, lin := range ex.ffIn {
			m.loraFwdU(ws, lin, xg, C, g[k*I:], 2*I, n, m.expertLoRAU(ws, s, k, o0))
		}
		h := mw.h[o0*I : o1*I]
		m.activation(h, g, n, I)
		m.linearFwd(ex.down, h, I, mw.yg[o0*C:], C, n, false)
		m.loraFwdU(ws, ex.down, h, I, mw.yg[o0*C:], C, n, m.expertLoRAU(ws, s, 2, o0))
	}
	// y[t] (+)= Σ_j w[t,j]·yg[pos(t,j)], slots in order.
	kernel.ParallelFor(N, rowGrain(C), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			yr := y[t*C : (t+1)*C]
			if !accumulate {
				clear(yr)
			}
			for j := 0; j < K; j++ {
				w, r := wts[t*K+j], int(pos[t*K+j])
				for i, v := range mw.yg[r*C : (r+1)*C] {
					yr[i] += w * v
				}
			}
		}
	})
}

// topK writes the k most probable experts of one token (ties to the lower
// index) into sel and their probabilities, renormalized to sum to one when
// norm, into w.
func topK(p []float32, sel []int32, w []float32, norm bool) {
	k := len(sel)
	for j := range sel {
		sel[j] = -1
	}
	for x, v := range p {
		// Insert x if it beats the current k-th (strictly, so ties keep the lower index).
		j := k
		for j > 0 && (sel[j-1] < 0 || v > p[sel[j-1]]) {
			j--
		}
		if j == k {
			continue
		}
		copy(sel[j+1:], sel[j:k-1])
		sel[j] = int32(x)
	}
	var sum float32
	for j, x := range sel {
		w[j] = p[x]
		sum += w[j]
	}
	if norm {
		for j := range w {
			w[j] /= sum
		}
	}
}

// route groups the (token, slot) pairs by expert: off[x] is expert x's first
// routed row, order[r] the pair (token·K + slot) of row r, pos its inverse.
// Within an expert rows follow token order.
func route(sel []int32, E int, order, pos, off []int32) {
	clear(off)
	for _, x := range sel {
		off[x+1]++
	}
	for x := 0; x < E; x++ {
		off[x+1] += off[x]
	}
	next := append([]int32(nil), off[:E]...)
	for i, x := range sel {
		r := next[x]
		next[x]++
		order[r], pos[i] = int32(i), r
	}
}

// gather copies the token rows of x into routed order: xg[r] = x[order[r]/K].
func (m *Model) gather(xg, x []float32, order []int32, rows, K, C int) {
	kernel.ParallelFor(rows, rowGrain(C), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			t := int(order[r]) / K
			copy(xg[r*C:(r+1)*C], x[t*C:(t+1)*C])
		}
	})
}

// moeBwd backpropagates dy [N, C], the gradient at layer l's mixture output,
// into ws.dln (written) given the mixture input in ws.ln, adding the
// router, expert and LoRA gradients.
func (m *Model) moeBwd(ws *workspace, l int, dy []float32) {
	c := &m.cfg
	e, b, mw, s := c.MoE, m.blocks[l].moe, ws.moe, l
	N, C := ws.B*ws.T, c.Hidden
	E, K, I := e.Experts, e.TopK, e.Intermediate
	probs, sel, wts := mw.probs[s][:N*E], mw.sel[s][:N*K], mw.wts[s][:N*K]
	order, pos, off, gu := mw.order[s][:N*K], mw.pos[s][:N*K], mw.off[s], mw.gu[s]
	x := ws.ln
	m.gather(mw.xg, x, order, N*K, K, C)
	// Recompute each expert's output for the routing-weight gradient.
	for ex := 0; ex < E; ex++ {
		o0, o1 := int(off[ex]), int(off[ex+1])
		if n := o1 - o0; n > 0 {
			h := mw.h[o0*I : o1*I]
			m.activation(h, gu[o0*2*I:o1*2*I], n, I)
			lin := b.experts[ex].down
			m.linearFwd(lin, h, I, mw.yg[o0*C:], C, n, false)
			m.loraFwdU(ws, lin, h, I, mw.yg[o0*C:], C, n, m.expertLoRAU(ws, s, 2, o0))
		}
	}
	// dw[t,j] = dy[t]·yg[pos(t,j)]; dyg[pos(t,j)] = w[t,j]·dy[t].
	kernel.ParallelFor(N, rowGrain(C), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			d := dy[t*C : (t+1)*C]
			for j := 0; j < K; j++ {
				r, w := int(pos[t*K+j]), wts[t*K+j]
				var dot float32
				for i, v := range mw.yg[r*C : (r+1)*C] {
					dot += v * d[i]
				}
				mw.dw[t*K+j] = dot
				dr := mw.dyg[r*C : (r+1)*C]
				for i, v := range d {
					dr[i] = w * v
				}
			}
		}
	})
	for ex := 0; ex < E; ex++ {
		o0, o1 := int(off[ex]), int(off[ex+1])
		n := o1 - o0
		if n == 0 {
			continue
		}
		xp := &b.experts[ex]
		h, dh := mw.h[o0*I:o1*I], mw.dh[o0*I:o1*I]
		dyg, xg := mw.dyg[o0*C:], mw.xg[o0*C:]
		linearBwdWeight(m.prec, xp.down, dyg, C, h, I, n)
		m.linearBwdData(xp.down, dyg, C, dh, I, n, false)
		m.loraBwdU(ws, xp.down, dyg, C, h, I, dh, I, n, true, m.expertLoRAU(ws, s, 2, o0))
		dgu := mw.dgu[o0*2*I : o1*2*I]
		clear(dgu)
		m.activationBwd(dgu, dh, gu[o0*2*I:o1*2*I], n, I)
		linearBwdWeight(m.prec, xp.ffInAll, dgu, 2*I, xg, C, n)
		m.linearBwdData(xp.ffInAll, dgu, 2*I, mw.dxg[o0*C:], C, n, false)
		for k, lin := range xp.ffIn {
			m.loraBwdU(ws, lin, dgu[k*I:], 2*I, xg, C, mw.dxg[o0*C:], C, n, true, m.expertLoRAU(ws, s, k, o0))
		}
	}
	// Router: the routing weights' gradient through the top-k renormalization
	// and the softmax, plus the load-balancing term.
	dp, dlogit := mw.dp[:N*E], mw.logits[:N*E]
	aux := e.AuxLoss && e.AuxLossCoef > 0
	kernel.ParallelFor(N, max(1, 1024/E), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			d, p := dp[t*E:(t+1)*E], probs[t*E:(t+1)*E]
			if aux {
				copy(d, mw.auxGrad)
			} else {
				clear(d)
			}
			dw, w, sl := mw.dw[t*K:(t+1)*K], wts[t*K:(t+1)*K], sel[t*K:(t+1)*K]
			if e.NormTopK {
				var sum, g float32
				for j, x := range sl {
					sum += p[x]
					g += dw[j] * w[j]
				}
				for j, x := range sl {
					d[x] += (dw[j] - g) / sum
				}
			} else {
				for j, x := range sl {
					d[x] += dw[j]
				}
			}
			var dot float32
			for i, v := range p {
				dot += v * d[i]
			}
			g := dlogit[t*E : (t+1)*E]
			for i, v := range p {
				g[i] = v * (d[i] - dot)
			}
		}
	})
	// dln[t] = Σ_j dxg[pos(t,j)] + dlogit[t]·W_router.
	kernel.ParallelFor(N, rowGrain(C), func(lo, hi int) {
		for t := lo; t < hi; t++ {
			dr := ws.dln[t*C : (t+1)*C]
			clear(dr)
			for j := 0; j < K; j++ {
				r := int(pos[t*K+j])
				for i, v := range mw.dxg[r*C : (r+1)*C] {
					dr[i] += v
				}
			}
		}
	})
	linearBwdWeight(m.prec, b.router, dlogit, E, x, C, N)
	m.linearBwdData(b.router, dlogit, E, ws.dln, C, N, true)
}

// moeAux computes the load-balancing loss over every sparse layer of the
// training pass just run, and the gradient each router probability gets
// from it, weighted by router_aux_loss_coef·share (share is this batch's
// part of the optimizer step: 1 for a whole batch).
func (m *Model) moeAux(ws *workspace, share float32) {
	e := m.cfg.MoE
	if e == nil {
		return
	}
	N := ws.B * ws.T
	E, K := e.Experts, e.TopK
	cnt, psum := make([]float64, E), make([]float64, E)
	rows := 0
	for l := range m.blocks {
		if m.blocks[l].moe == nil {
			continue
		}
		rows += N
		for _, x := range ws.moe.sel[l][:N*K] {
			cnt[x]++
		}
		for t := 0; t < N; t++ {
			for x, v := range ws.moe.probs[l][t*E : (t+1)*E] {
				psum[x] += float64(v)
			}
		}
	}
	if rows == 0 {
		return
	}
	R := float64(rows)
	var aux float64
	for x := range cnt {
		aux += cnt[x] / R * psum[x] / R
	}
	m.auxLoss = float64(E) * aux
	w := e.AuxLossCoef * float64(share)
	for x := range ws.moe.auxGrad {
		ws.moe.auxGrad[x] = float32(w * float64(E) * cnt[x] / (R * R))
	}
}

// AuxLoss is the router load-balancing loss of the last ForwardBackward of
// a mixture-of-experts model (transformers' load_balancing_loss_func, not yet
// weighted by router_aux_loss_coef), or 0.
func (m *Model) AuxLoss() float64 { return m.auxLoss }

// denseWidth is the width of the dense MLP activations: the config's
// intermediate size if any layer is dense, else 1 (nothing to hold).
func (c *Config) denseWidth() int {
	for l := 0; l < c.Layers; l++ {
		if !c.SparseLayer(l) {
			return c.Intermediate
		}
	}
	return 1
}

// maxMLPWidth is the widest MLP of any layer.
func (c *Config) maxMLPWidth() int {
	w := 0
	for l := 0; l < c.Layers; l++ {
		w = max(w, c.MLPWidth(l))
	}
	return w
}
