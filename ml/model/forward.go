package model

import (
	"math"

	"github.com/crucible-net/crucible/ml/kernel"
)

// slot maps a layer to its activation slot: every layer has its own while
// training; evaluation reuses slot 0 (and two residual buffers).
func (ws *workspace) slot(l int) int {
	if ws.train {
		return l
	}
	return 0
}

// position is the position of row r.
func (ws *workspace) position(r int) int {
	if ws.cache != nil {
		return ws.pos0 + r
	}
	return r % ws.T
}

func (ws *workspace) residIn(l int) []float32 {
	if ws.train {
		return ws.resid[l]
	}
	return ws.resid[l%2]
}

// forwardBody embeds tokens and runs every block, leaving the final normed
// hidden states in ws.lnf and returning the last residual stream.
func (m *Model) forwardBody(ws *workspace, tokens []int32) []float32 {
	c := &m.cfg
	C, T := c.Hidden, ws.T
	N := ws.B * T
	x := ws.resid[0]
	kernel.ParallelFor(N, rowGrain(C), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			tok := int(tokens[r])
			row := x[r*C : (r+1)*C]
			copy(row, m.embed[tok*C:(tok+1)*C])
			if m.pos != nil {
				pr := ws.position(r)
				p := m.pos[pr*C : (pr+1)*C]
				for i, v := range p {
					row[i] += v
				}
			}
		}
	})
	for l := range m.blocks {
		m.blockFwd(ws, l, ws.residIn(l), ws.residIn(l+1))
	}
	last := ws.residIn(len(m.blocks))
	normFwd(&m.normF, last, ws.lnf, ws.meanF, ws.rstdF, N, C, float32(c.NormEps))
	return last
}

// blockFwd runs layer l from x into out, saving what backward needs in the
// layer's slot.
func (m *Model) blockFwd(ws *workspace, l int, x, out []float32) {
	c := &m.cfg
	b := &m.blocks[l]
	s := ws.slot(l)
	B, T := ws.B, ws.T
	N, C, I := B*T, c.Hidden, c.Intermediate
	eps := float32(c.NormEps)
	ld, qd := c.QKVDim(), c.Heads*c.HeadDim

	normFwd(&b.norm1, x, ws.ln, ws.mean1[s], ws.rstd1[s], N, C, eps)
	qkv := ws.qkv[s]
	col := 0
	for _, lin := range b.qkv {
		m.projFwd(ws, lin, ws.ln, C, qkv[col:], ld, N, false)
		col += lin.out
	}
	if m.rope != nil {
		m.rope.ensure(ws.pos0 + T)
		m.rope.apply(qkv, ld, N, c.Heads+c.KVHeads, ws.position, false)
	}
	switch {
	case ws.cache != nil:
		m.cachedAttention(ws, l, qkv, ws.atty[s])
	case ws.train:
		m.attention(qkv, ws.atty[s], ws.lse[s], B, T, ws.pool)
	default:
		m.attention(qkv, ws.atty[s], nil, B, T, ws.pool)
	}
	xmid := ws.xmid[s]
	copy(xmid, x)
	m.projFwd(ws, b.o, ws.atty[s], qd, xmid, C, N, true)

	normFwd(&b.norm2, xmid, ws.ln, ws.mean2[s], ws.rstd2[s], N, C, eps)
	if c.Family == Llama {
		m.projFwd(ws, b.ffIn[0], ws.ln, C, ws.ffa[s], I, N, false)
		m.projFwd(ws, b.ffIn[1], ws.ln, C, ws.ffb[s], I, N, false)
		swigluFwd(ws.ffa[s], ws.ffb[s], ws.hbuf)
	} else {
		m.projFwd(ws, b.ffIn[0], ws.ln, C, ws.ffa[s], I, N, false)
		geluFwd(ws.ffa[s], ws.hbuf)
	}
	copy(out, xmid)
	m.projFwd(ws, b.down, ws.hbuf, I, out, C, N, true)
}

// projFwd applies a projection and, when it carries a LoRA module, adds
// scale·(dropout(x)·Aᵀ)·Bᵀ, saving x·Aᵀ for backward.
func (m *Model) projFwd(ws *workspace, lin *linear, x []float32, ldx int, y []float32, ldy, n int, accumulate bool) {
	linearFwd(lin, x, ldx, y, ldy, n, accumulate)
	lm := lin.lora
	if lm == nil {
		return
	}
	u := ws.loraU[0]
	if ws.train {
		u = ws.loraU[lm.idx]
	}
	xd, ldxd := x, ldx
	if ws.train && m.lora.cfg.Dropout > 0 {
		xd, ldxd = ws.loraX, lin.in
		m.lora.dropout(lm, m.step, x, ldx, xd, lin.in, n, false)
	}
	r := m.lora.cfg.Rank
	gemm(false, true, n, r, lin.in, 1, xd, ldxd, lm.a, lin.in, 0, u, r)
	gemm(false, true, n, lin.out, r, lm.scale, u, r, lm.b, r, 1, y, ldy)
}

// headLoss scores ws.lnf against labels: for each chunk of scored positions
// it forms the logits, the cross-entropy and, when dlnf is non-nil, writes
// dL/dlnf = scale·(softmax − onehot)·W_head into dlnf (rows not scored get 0)
// and adds the head weight gradient. tokenLoss, when non-nil, receives the
// loss of each position (0 where not scored).
func (m *Model) headLoss(ws *workspace, labels []int32, dlnf []float32, scale float32, tokenLoss []float32) Loss {
	c := &m.cfg
	C, V := c.Hidden, c.Vocab
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
	var losses, rowScale [headChunk]float32
	for c0 := 0; c0 < len(rows); c0 += headChunk {
		chunk := rows[c0:min(c0+headChunk, len(rows))]
		nr := len(chunk)
		hx := ws.headX[:nr*C]
		for i, r := range chunk {
			copy(hx[i*C:(i+1)*C], ws.lnf[int(r)*C:(int(r)+1)*C])
		}
		logits := ws.logits[:nr*V]
		gemm(false, true, nr, V, C, 1, hx, C, m.head, C, 0, logits, V)
		kernel.ParallelFor(nr, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				row := logits[i*V : (i+1)*V]
				label := int(labels[chunk[i]])
				mx := float32(math.Inf(-1))
				for _, v := range row {
					mx = max(mx, v)
				}
				xl := row[label]
				var sum float32
				for j, v := range row {
					e := expf(v - mx)
					row[j] = e
					sum += e
				}
				losses[i] = mx + float32(math.Log(float64(sum))) - xl
				// dlogits = scale·(e/sum − onehot) = (scale/sum)·(e − sum·onehot):
				// the row keeps e − sum·onehot and the factor is applied to the
				// narrow operands of the two products below, saving a pass
				// over the vocabulary.
				row[label] -= sum
				rowScale[i] = scale / sum
			}
		})
		for i, r := range chunk {
			total += float64(losses[i])
			if tokenLoss != nil {
				tokenLoss[r] = losses[i]
			}
		}
		if dlnf == nil {
			continue
		}
		dhx := ws.dHeadX[:nr*C]
		gemm(false, false, nr, C, V, 1, logits, V, m.head, C, 0, dhx, C)
		for i, r := range chunk {
			d, src, s := dlnf[int(r)*C:(int(r)+1)*C], dhx[i*C:(i+1)*C], rowScale[i]
			for j, v := range src {
				d[j] = v * s
			}
			if m.gHead != nil {
				x := hx[i*C : (i+1)*C]
				for j := range x {
					x[j] *= s
				}
			}
		}
		if m.gHead != nil {
			gemm(true, false, V, C, nr, 1, logits, V, hx, C, 1, m.gHead, C)
		}
	}
	return Loss{Sum: total, Count: len(rows)}
}
