package model

import "fmt"

// Evaluate runs the batch forward only and returns the masked cross-entropy
// against b.Labels. It keeps one layer's activations at a time (no
// gradients, no saved probabilities) and forms logits only for scored
// positions, so it is several times cheaper per token than ForwardBackward.
// tokenLoss, when non-nil (length B·T), receives each position's loss (0
// where the label is -100); seqLoss, when non-nil (length B), receives the
// loss sum of each sequence.
func (m *Model) Evaluate(b Batch, tokenLoss []float32, seqLoss []float64) (Loss, error) {
	if err := m.checkBatch(b, true); err != nil {
		return Loss{}, fmt.Errorf("evaluate: %w", err)
	}
	if tokenLoss != nil && len(tokenLoss) != b.B*b.T {
		return Loss{}, fmt.Errorf("evaluate: token loss buffer has %d elements, want %d", len(tokenLoss), b.B*b.T)
	}
	if seqLoss != nil && len(seqLoss) != b.B {
		return Loss{}, fmt.Errorf("evaluate: sequence loss buffer has %d elements, want %d", len(seqLoss), b.B)
	}
	if err := m.prepare(b.T); err != nil {
		return Loss{}, fmt.Errorf("evaluate: %w", err)
	}
	ws := m.workspace(b.B, b.T, false)
	m.forwardBody(ws, b.Tokens)
	if tokenLoss == nil && seqLoss != nil {
		if cap(ws.tokenLoss) < b.B*b.T {
			ws.tokenLoss = make([]float32, b.B*b.T)
		}
		tokenLoss = ws.tokenLoss[:b.B*b.T]
	}
	loss := m.headLoss(ws, b.Labels, nil, 0, tokenLoss, nil)
	for i := range seqLoss {
		var s float64
		for _, v := range tokenLoss[i*b.T : (i+1)*b.T] {
			s += float64(v)
		}
		seqLoss[i] = s
	}
	return loss, nil
}

// Logits runs the batch forward and returns the logits of every position,
// [B·T, V] row-major. It is meant for tests and small batches: the full
// logits of a long batch are large.
func (m *Model) Logits(b Batch) ([]float32, error) {
	if err := m.checkBatch(b, false); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	if err := m.prepare(b.T); err != nil {
		return nil, fmt.Errorf("logits: %w", err)
	}
	ws := m.workspace(b.B, b.T, false)
	m.forwardBody(ws, b.Tokens)
	c := &m.cfg
	N := b.B * b.T
	out := make([]float32, N*c.Vocab)
	m.gemmW(false, true, N, c.Vocab, c.Hidden, 1, ws.lnf, c.Hidden, m.head, m.head16, c.Hidden, 0, out, c.Vocab)
	m.softcapLogits(out, nil)
	return out, nil
}
