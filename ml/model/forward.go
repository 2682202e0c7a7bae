package model

import (
	"fmt"

	"github.com/crucible-net/crucible/ml/nn"
)

// slot maps a layer to its activation slot: every layer has its own while
// training; evaluation reuses slot 0 (and two residual buffers).
func (ws *workspace) slot(l int) int {
	if ws.train {
		return l
	}
	return 0
}

// prepare readies what a pass over positions [0, n) needs beyond the
// workspace: the rotary tables and the effective weights of (1+w) norms.
func (m *Model) prepare(n int) error {
	m.refreshNorms()
	if m.cfg.Family == Llama {
		return m.ensureRope(n)
	}
	return nil
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
	x := ws.resid[0][:N*C]
	if err := m.embedForward(x, tokens); err != nil {
		panic(fmt.Sprintf("model: internal: tokens passed checkBatch but %v", err))
	}
	if s := c.EmbedScale; s != 0 && s != 1 {
		nn.Scale(x, float32(s))
	}
	if m.pos != nil {
		if err := nn.PositionForward(x, m.pos, ws.B, T, C, ws.pos0, c.MaxPositions); err != nil {
			panic(fmt.Sprintf("model: internal: positions were checked but %v", err))
		}
	}
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
	N, C := B*T, c.Hidden
	eps := float32(c.NormEps)
	ld, qd := c.QKVDim(), c.Heads*c.HeadDim

	normFwd(&b.norm1, x, ws.ln, ws.mean1[s], ws.rstd1[s], N, C, eps)
	qkv := ws.qkv[s]
	m.linearFwd(b.qkvAll, ws.ln, C, qkv, ld, N, false)
	m.loraGroupFwd(ws, b.qkv, ws.ln, C, qkv, ld, N)
	if c.QKNorm {
		m.qkNormFwd(b, qkv, ws.qkPre[s], ws.qkRstd[s], N)
	}
	if rope := m.ropeFor(l); rope != nil {
		ws.ropeStart[0] = ws.pos0
		start := ws.ropeStart[:]
		if ws.group != nil {
			start = ws.group.starts[:B] // every row continues its own cache at pos0
		} else if ws.cache == nil {
			start = nil // every sequence starts at 0
		}
		rope.Forward(qkv, qkv, B, T, c.Heads+c.KVHeads, ld, start)
	}
	switch {
	case ws.group != nil:
		m.groupAttention(ws, l, qkv, ws.atty[s])
	case ws.cache != nil:
		m.cachedAttention(ws, l, qkv, ws.atty[s])
	case ws.train:
		m.attention(ws, l, qkv, ws.atty[s], ws.lse[s])
	default:
		m.attention(ws, l, qkv, ws.atty[s], nil)
	}
	xmid := ws.xmid[s]
	if c.PostNorms {
		ao := ws.ao[s]
		m.projFwd(ws, b.o, ws.atty[s], qd, ao, C, N, false)
		normFwd(&b.postAttn, ao, ws.ln, nil, ws.rstdPA[s], N, C, eps)
		nn.Add(xmid[:N*C], x[:N*C], ws.ln[:N*C])
	} else {
		copy(xmid[:N*C], x[:N*C])
		m.projFwd(ws, b.o, ws.atty[s], qd, xmid, C, N, true)
	}

	normFwd(&b.norm2, xmid, ws.ln, ws.mean2[s], ws.rstd2[s], N, C, eps)
	if c.PostNorms {
		mo := ws.mo[s]
		m.mlpFwd(ws, l, ws.ln, mo, false)
		normFwd(&b.postFF, mo, ws.ln, nil, ws.rstdPF[s], N, C, eps)
		nn.Add(out[:N*C], xmid[:N*C], ws.ln[:N*C])
		return
	}
	copy(out[:N*C], xmid[:N*C])
	m.mlpFwd(ws, l, ws.ln, out, true)
}

// mlpFwd writes (or with accumulate adds) layer l's MLP of x [N, C] into y.
func (m *Model) mlpFwd(ws *workspace, l int, x, y []float32, accumulate bool) {
	c := &m.cfg
	b := &m.blocks[l]
	if b.moe != nil {
		m.moeFwd(ws, l, x, y, accumulate)
		return
	}
	s := ws.slot(l)
	N, C, I := ws.B*ws.T, c.Hidden, c.Intermediate
	ff, ldf := ws.ffa[s], b.ffInAll.out // Llama: gate|up per row; GPT-2: fc
	m.linearFwd(b.ffInAll, x, C, ff, ldf, N, false)
	m.loraGroupFwd(ws, b.ffIn, x, C, ff, ldf, N)
	m.activation(ws.hbuf[:N*I], ff[:N*ldf], N, I)
	m.projFwd(ws, b.down, ws.hbuf, I, y, C, N, accumulate)
}

// activation computes the MLP activation h [n, inter] from the fused
// gate|up rows (Llama family) or the fc pre-activation (GPT-2).
func (m *Model) activation(h, ff []float32, n, inter int) {
	switch {
	case m.cfg.Family == GPT2:
		nn.GELUForward(h, ff)
	case m.cfg.GeGLU:
		nn.GeGLURowsForward(h, ff, n, inter)
	default:
		nn.SwiGLURowsForward(h, ff, n, inter)
	}
}

// activationBwd accumulates the gradient of activation into dff.
func (m *Model) activationBwd(dff, dh, ff []float32, n, inter int) {
	switch {
	case m.cfg.Family == GPT2:
		nn.GELUBackward(dff, dh, ff)
	case m.cfg.GeGLU:
		nn.GeGLURowsBackward(dff, dh, ff, n, inter)
	default:
		nn.SwiGLURowsBackward(dff, dh, ff, n, inter)
	}
}

// projFwd applies a projection and its LoRA module, if any.
func (m *Model) projFwd(ws *workspace, lin *linear, x []float32, ldx int, y []float32, ldy, n int, accumulate bool) {
	m.linearFwd(lin, x, ldx, y, ldy, n, accumulate)
	m.loraFwd(ws, lin, x, ldx, y, ldy, n)
}

// loraFwd adds scale·(dropout(x)·Aᵀ)·Bᵀ to y when lin carries a LoRA module,
// saving x·Aᵀ for backward.
func (m *Model) loraFwd(ws *workspace, lin *linear, x []float32, ldx int, y []float32, ldy, n int) {
	lm := lin.lora
	if lm == nil {
		return
	}
	u := ws.loraU[0]
	if ws.train {
		u = ws.loraU[lm.idx]
	}
	m.loraFwdU(ws, lin, x, ldx, y, ldy, n, u)
}

// loraFwdU is loraFwd saving x·Aᵀ in u [n, r] (the routed rows of an
// expert keep theirs in the mixture's own buffers).
func (m *Model) loraFwdU(ws *workspace, lin *linear, x []float32, ldx int, y []float32, ldy, n int, u []float32) {
	lm := lin.lora
	if lm == nil || n == 0 {
		return
	}
	xd, ldxd := x, ldx
	if ws.train && m.lora.cfg.Dropout > 0 {
		xd, ldxd = ws.loraX, lin.in
		m.lora.dropout(lm, m.step, x, ldx, xd, lin.in, n, false)
	}
	r := m.lora.cfg.Rank
	m.gemmAdapter(false, true, n, r, lin.in, 1, xd, ldxd, lm.a, lin.in, 0, u, r)
	m.gemmAdapter(false, true, n, lin.out, r, lm.scale, u, r, lm.b, r, 1, y, ldy)
}
