package model

import (
	"errors"
	"fmt"

	"github.com/crucible-net/crucible/ml/nn"
)

// ForwardBackward runs the batch forward, computes the masked cross-entropy
// against b.Labels and backpropagates it, adding gradients to Grads (when the
// base is trained) and to the LoRA gradients (when an adapter is attached).
// Gradients accumulate: call ZeroGrads before a new optimizer step.
//
// The gradient is that of scale·Loss.Sum; scale 0 means 1/Count, the
// gradient of the mean loss. (For gradient accumulation over micro-batches,
// pass 1/total count.) It returns the loss of this batch.
func (m *Model) ForwardBackward(b Batch, scale float32) (Loss, error) {
	if err := m.checkBatch(b, true); err != nil {
		return Loss{}, fmt.Errorf("forward-backward: %w", err)
	}
	if m.grads == nil && m.lora == nil {
		return Loss{}, errors.New("forward-backward: nothing to train (base frozen and no LoRA adapter); call SetTrainBase(true) or AddLoRA")
	}
	if err := m.prepare(b.T); err != nil {
		return Loss{}, fmt.Errorf("forward-backward: %w", err)
	}
	ws := m.workspace(b.B, b.T, true)
	c := &m.cfg
	N, C := b.B*b.T, c.Hidden
	last := m.forwardBody(ws, b.Tokens)
	count := 0
	for _, t := range b.Labels {
		if t != IgnoreIndex {
			count++
		}
	}
	if scale == 0 && count > 0 {
		scale = 1 / float32(count)
	}
	ws.posWeight = b.PositionWeight
	m.moeAux(ws, scale*float32(count))
	loss := m.headLoss(ws, b.Labels, ws.dln, scale, nil, b.Weights)
	ws.posWeight = nil
	clear(ws.dres[:N*C])
	normBwd(&m.normF, ws.dln, last, ws.meanF, ws.rstdF, ws.dres, N, C)
	for l := len(m.blocks) - 1; l >= 0; l-- {
		m.blockBwd(ws, l)
	}
	if m.gEmbed != nil {
		m.embedBwd(ws, b.Tokens)
	}
	m.step++
	return loss, nil
}

// blockBwd backpropagates ws.dres (the gradient at layer l's output) to the
// layer's input, in place.
func (m *Model) blockBwd(ws *workspace, l int) {
	c := &m.cfg
	b := &m.blocks[l]
	B, T := ws.B, ws.T
	N, C := B*T, c.Hidden
	ld, qd := c.QKVDim(), c.Heads*c.HeadDim
	x, xmid := ws.resid[l], ws.xmid[l]
	// The first layer's input gradient is only needed for embedding gradients.
	needDX := l > 0 || m.gEmbed != nil

	// MLP: out = xmid + [postFF](mlp(norm2(xmid))).
	normRecompute(&b.norm2, xmid, ws.ln, ws.mean2[l], ws.rstd2[l], N, C)
	dmlp := ws.dres
	if c.PostNorms {
		dmlp = ws.dpost[:N*C]
		clear(dmlp)
		normBwd(&b.postFF, ws.dres, ws.mo[l], nil, ws.rstdPF[l], dmlp, N, C)
	}
	m.mlpBwd(ws, l, dmlp)
	normBwd(&b.norm2, ws.dln, xmid, ws.mean2[l], ws.rstd2[l], ws.dres, N, C)

	// Attention: xmid = x + [postAttn](o(attn(rope(qknorm(qkv(norm1(x))))))).
	dattn := ws.dres
	if c.PostNorms {
		dattn = ws.dpost[:N*C]
		clear(dattn)
		normBwd(&b.postAttn, ws.dres, ws.ao[l], nil, ws.rstdPA[l], dattn, N, C)
	}
	m.projBwd(ws, b.o, dattn, C, ws.atty[l], qd, ws.datty, qd, N, false, true)
	m.attentionBwd(ws, l, ws.qkv[l], ws.atty[l], ws.lse[l], ws.datty, ws.dqkv)
	if rope := m.ropeFor(l); rope != nil {
		rope.BackwardInPlace(ws.dqkv, B, T, c.Heads+c.KVHeads, ld, nil)
	}
	if c.QKNorm {
		m.qkNormBwd(b, ws.dqkv, ws.qkPre[l], ws.qkRstd[l], N)
	}
	normRecompute(&b.norm1, x, ws.ln, ws.mean1[l], ws.rstd1[l], N, C)
	m.groupBwd(ws, b.qkvAll, b.qkv, ws.dqkv, ld, ws.ln, C, ws.dln, N, needDX)
	if needDX || b.norm1.gw != nil {
		normBwd(&b.norm1, ws.dln, x, ws.mean1[l], ws.rstd1[l], ws.dres, N, C)
	}
}

// mlpBwd backpropagates dy, the gradient at layer l's MLP output, into
// ws.dln (written, not added), the gradient at its input ws.ln (which holds
// norm2's output), adding the weight and LoRA gradients.
func (m *Model) mlpBwd(ws *workspace, l int, dy []float32) {
	c := &m.cfg
	b := &m.blocks[l]
	if b.moe != nil {
		m.moeBwd(ws, l, dy)
		return
	}
	N, C, I := ws.B*ws.T, c.Hidden, c.Intermediate
	NI := N * I
	ff, ldf := ws.ffa[l], b.ffInAll.out
	h, dh := ws.hbuf[:NI], ws.dh[:NI]
	m.activation(h, ff[:N*ldf], N, I)
	m.projBwd(ws, b.down, dy, C, h, I, dh, I, N, false, true)
	// d(gate|up) goes to ws.dff (Llama); for GPT-2 the spent h becomes d(fc).
	dff := h
	if c.Family == Llama {
		dff = ws.dff[:N*ldf]
	}
	clear(dff)
	m.activationBwd(dff, dh, ff[:N*ldf], N, I)
	m.groupBwd(ws, b.ffInAll, b.ffIn, dff, ldf, ws.ln, C, ws.dln, N, true)
}

// groupBwd backpropagates dy [n, ld] through a group of projections of one
// input x [n, C] (q|k|v, gate|up): one product each for the base weight
// gradient and dx (written, not added), then each member's LoRA module on
// its column window.
func (m *Model) groupBwd(ws *workspace, all *linear, members []*linear, dy []float32, ld int, x []float32, ldx int, dx []float32, n int, needDX bool) {
	linearBwdWeight(m.prec, all, dy, ld, x, ldx, n)
	if needDX {
		m.linearBwdData(all, dy, ld, dx, ldx, n, false)
	}
	if m.loraGroupBwd(ws, members, dy, ld, x, ldx, dx, n, needDX) {
		return
	}
	col := 0
	for _, lin := range members {
		m.loraBwd(ws, lin, dy[col:], ld, x, ldx, dx, ldx, n, needDX)
		col += lin.out
	}
}

// projBwd backpropagates dy through a projection: it adds the weight (and
// LoRA) gradients and, when needDX, writes (or with accumulate adds) dx.
func (m *Model) projBwd(ws *workspace, lin *linear, dy []float32, lddy int, x []float32, ldx int, dx []float32, lddx, n int, accumulate, needDX bool) {
	linearBwdWeight(m.prec, lin, dy, lddy, x, ldx, n)
	if needDX {
		m.linearBwdData(lin, dy, lddy, dx, lddx, n, accumulate)
	}
	m.loraBwd(ws, lin, dy, lddy, x, ldx, dx, lddx, n, needDX)
}

// loraBwd adds the LoRA gradients of lin's module, if any, and with needDX
// adds its share of dx.
func (m *Model) loraBwd(ws *workspace, lin *linear, dy []float32, lddy int, x []float32, ldx int, dx []float32, lddx, n int, needDX bool) {
	lm := lin.lora
	if lm == nil {
		return
	}
	m.loraBwdU(ws, lin, dy, lddy, x, ldx, dx, lddx, n, needDX, ws.loraU[lm.idx])
}

// loraBwdU is loraBwd with the saved x·Aᵀ in u.
func (m *Model) loraBwdU(ws *workspace, lin *linear, dy []float32, lddy int, x []float32, ldx int, dx []float32, lddx, n int, needDX bool, u []float32) {
	lm := lin.lora
	if lm == nil || n == 0 {
		return
	}
	r := m.lora.cfg.Rank
	du := ws.loraDU[:n*r]
	xd, ldxd := x, ldx
	drop := m.lora.cfg.Dropout > 0
	if drop {
		xd, ldxd = ws.loraX, lin.in
		m.lora.dropout(lm, m.step, x, ldx, xd, lin.in, n, false)
	}
	m.gemmAdapter(true, false, lin.out, r, n, lm.scale, dy, lddy, u, r, 1, lm.gb, r)
	m.gemmAdapter(false, false, n, r, lin.out, lm.scale, dy, lddy, lm.b, r, 0, du, r)
	m.gemmAdapter(true, false, r, lin.in, n, 1, du, r, xd, ldxd, 1, lm.ga, lin.in)
	if !needDX {
		return
	}
	if !drop {
		m.gemmAdapter(false, false, n, lin.in, r, 1, du, r, lm.a, lin.in, 1, dx, lddx)
		return
	}
	t := ws.loraT[:n*lin.in]
	m.gemmAdapter(false, false, n, lin.in, r, 1, du, r, lm.a, lin.in, 0, t, lin.in)
	m.lora.dropout(lm, m.step, t, lin.in, dx, lddx, n, true)
}

// embedBwd adds the input gradient to the token (and position) embeddings.
func (m *Model) embedBwd(ws *workspace, tokens []int32) {
	C, N := m.cfg.Hidden, ws.B*ws.T
	if s := m.cfg.EmbedScale; s != 0 && s != 1 {
		nn.Scale(ws.dres[:N*C], float32(s))
	}
	nn.EmbeddingBackward(m.gEmbed, ws.dres[:N*C], tokens, m.cfg.Vocab, C)
	if m.gPos != nil {
		nn.PositionBackward(m.gPos, ws.dres[:N*C], ws.B, ws.T, C, 0)
	}
}
