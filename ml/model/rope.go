package model

import (
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/nn"
)

// Rotary embeddings per layer: the full-attention layers use rope_theta with
// the config's scaling, Gemma 3's sliding layers their own base without
// scaling, SmolLM3's NoPE layers none. LongRoPE (Phi-3, Phi-4-mini) has two
// tables, as transformers computes them: the short factors while a pass stays
// within the pretraining context, the long ones once it reaches past it.

// ropeTables holds the model's rotary tables, grown on demand.
type ropeTables struct {
	global, local, long *nn.RoPE
	useLong             bool // the current pass reaches past the pretraining context
}

// ropeFor returns layer l's table, or nil for a layer without rotary embeddings.
func (m *Model) ropeFor(l int) *nn.RoPE {
	c := &m.cfg
	switch {
	case c.Family != Llama || c.NoRope != nil && c.NoRope[l]:
		return nil
	case c.LocalRopeTheta > 0 && c.Sliding(l):
		return m.ropes.local
	case m.ropes.useLong:
		return m.ropes.long
	}
	return m.ropes.global
}

// longRope reports whether a pass over positions [0, n) uses LongRoPE's long
// factors.
func (c *Config) longRope(n int) bool {
	s := c.RopeScaling
	return s != nil && s.Type == "longrope" && n > s.OriginalMaxPos
}

// ensureRope makes the rotary tables cover positions [0, n) and selects
// LongRoPE's factors for a pass of that length.
func (m *Model) ensureRope(n int) error {
	c := &m.cfg
	m.ropes.useLong = c.longRope(n)
	if m.ropes.global != nil && m.ropes.global.MaxPos >= n {
		return nil
	}
	size := max(n, 2*m.ropeSize(), min(c.MaxPositions, 4096))
	var t ropeTables
	var err error
	if t.global, err = c.newRope(size, c.RopeTheta, c.RopeScaling, false); err != nil {
		return err
	}
	if c.LocalRopeTheta > 0 {
		if t.local, err = c.newRope(size, c.LocalRopeTheta, nil, false); err != nil {
			return err
		}
	}
	if s := c.RopeScaling; s != nil && s.Type == "longrope" {
		if t.long, err = c.newRope(size, c.RopeTheta, s, true); err != nil {
			return err
		}
	}
	t.useLong = m.ropes.useLong
	m.ropes = t
	return nil
}

func (m *Model) ropeSize() int {
	if m.ropes.global == nil {
		return 0
	}
	return m.ropes.global.MaxPos
}

// newRope builds a table for positions [0, size) from a base and a scaling.
func (c *Config) newRope(size int, theta float64, s *RopeScaling, long bool) (*nn.RoPE, error) {
	dim := c.rotaryDim()
	inv := nn.DefaultInvFreq(dim, theta)
	factor := float32(1)
	if s != nil {
		var err error
		if inv, factor, err = s.invFreq(inv, dim, theta, long); err != nil {
			return nil, fmt.Errorf("rotary embeddings: %w", err)
		}
	}
	r, err := nn.NewRoPEFreqs(size, inv, factor)
	if err != nil {
		return nil, fmt.Errorf("rotary embeddings: %w", err)
	}
	r.HeadStride = c.HeadDim
	return r, nil
}

// invFreq applies the scaling to the default inverse frequencies of dim
// rotated dimensions and returns them with the cos/sin attention factor,
// computed in float32 in transformers' order of operations.
func (s *RopeScaling) invFreq(inv []float32, dim int, theta float64, long bool) ([]float32, float32, error) {
	switch s.Type {
	case "linear", "llama3":
		r, err := nn.NewRoPE(dim, 1, theta, &nn.RoPEScaling{Type: s.Type, Factor: s.Factor,
			LowFreqFactor: s.LowFreqFactor, HighFreqFactor: s.HighFreqFactor, OriginalMaxPositionEmbeddings: s.OriginalMaxPos})
		if err != nil {
			return nil, 0, err
		}
		return append([]float32(nil), r.InvFreq()...), 1, nil
	case "longrope":
		ext := s.ShortFactor
		if long {
			ext = s.LongFactor
		}
		out := make([]float32, len(inv))
		for i := range out {
			out[i] = 1 / (float32(ext[i]) * ropeBase(theta, i, dim))
		}
		af := s.AttentionFactor
		if af == 0 {
			af = 1
			if s.Factor > 1 {
				af = math.Sqrt(1 + math.Log(s.Factor)/math.Log(float64(s.OriginalMaxPos)))
			}
		}
		return out, float32(af), nil
	case "yarn":
		return s.yarn(inv, dim, theta)
	}
	return nil, 0, fmt.Errorf("rope_scaling type %q is not supported", s.Type)
}

// ropeBase is base^(2i/dim) in float32, the denominator of inverse
// frequency i.
func ropeBase(theta float64, i, dim int) float32 {
	return float32(math.Pow(theta, float64(float32(2*i)/float32(dim))))
}

// yarn is transformers' _compute_yarn_parameters.
func (s *RopeScaling) yarn(inv []float32, dim int, theta float64) ([]float32, float32, error) {
	mscale := func(scale, m float64) float64 {
		if scale <= 1 {
			return 1
		}
		return 0.1*m*math.Log(scale) + 1
	}
	af := s.AttentionFactor
	if af == 0 {
		if s.Mscale != 0 && s.MscaleAllDim != 0 {
			af = mscale(s.Factor, s.Mscale) / mscale(s.Factor, s.MscaleAllDim)
		} else {
			af = mscale(s.Factor, 1)
		}
	}
	fast, slow := s.BetaFast, s.BetaSlow
	if fast == 0 {
		fast = 32
	}
	if slow == 0 {
		slow = 1
	}
	corr := func(rot float64) float64 {
		return float64(dim) * math.Log(float64(s.OriginalMaxPos)/(rot*2*math.Pi)) / (2 * math.Log(theta))
	}
	low, high := corr(fast), corr(slow)
	if !s.NoTruncate {
		low, high = math.Floor(low), math.Ceil(high)
	}
	low, high = max(low, 0), min(high, float64(dim-1))
	if low == high {
		high += 0.001
	}
	out := make([]float32, len(inv))
	for i := range out {
		ramp := float32((float64(i) - low) / (high - low))
		ramp = min(max(ramp, 0), 1)
		extra := 1 - ramp
		pos := ropeBase(theta, i, dim)
		interp := 1 / (float32(s.Factor) * pos)
		out[i] = interp*(1-extra) + 1/pos*extra
	}
	return out, float32(af), nil
}
