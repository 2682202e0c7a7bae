package optim

import (
	"fmt"
	"math"
	"strconv"

	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// The tensor name suffixes and metadata keys of a saved AdamW state. The
// names follow PyTorch's state keys.
const (
	SuffixExpAvg   = ".exp_avg"
	SuffixExpAvgSq = ".exp_avg_sq"
	MetaOptimizer  = "optimizer"
	MetaStep       = "optimizer.step"
)

// StateSource is where LoadState reads a saved state from; *safetensors.File
// and *safetensors.Set satisfy it.
type StateSource interface {
	Names() []string
	Float32(name string) ([]float32, error)
	Metadata() map[string]string
}

// State returns the optimizer state as F32 tensors "<param>.exp_avg" and
// "<param>.exp_avg_sq" (copies, shaped as flat vectors) and metadata
// holding the step count. Written with safetensors.Write, possibly beside
// other tensors of a checkpoint, it restores bit-identically with
// LoadState.
func (o *AdamW) State() ([]safetensors.Tensor, map[string]string) {
	ts := make([]safetensors.Tensor, 0, 2*len(o.params))
	for i, p := range o.params {
		n := o.size(i)
		m, v := o.moments(i)
		ts = append(ts,
			safetensors.Tensor{Name: p.Name + SuffixExpAvg, DType: tensor.F32, Shape: []int{n}, Data: m},
			safetensors.Tensor{Name: p.Name + SuffixExpAvgSq, DType: tensor.F32, Shape: []int{n}, Data: v},
		)
	}
	meta := map[string]string{MetaOptimizer: "adamw", MetaStep: strconv.Itoa(o.step)}
	return ts, meta
}

// SaveState writes State to a safetensors file at path (atomically).
func (o *AdamW) SaveState(path string) error {
	ts, meta := o.State()
	if err := safetensors.Write(path, ts, meta); err != nil {
		return fmt.Errorf("adamw: save state: %w", err)
	}
	return nil
}

// LoadState restores the moments and step count saved by State from src.
// Every param must have both moment tensors with its exact element count;
// on any error the optimizer is left unchanged.
func (o *AdamW) LoadState(src StateSource) error {
	meta := src.Metadata()
	if kind := meta[MetaOptimizer]; kind != "adamw" {
		return fmt.Errorf("adamw: load state: metadata %q is %q, want \"adamw\"", MetaOptimizer, kind)
	}
	step, err := strconv.Atoi(meta[MetaStep])
	if err != nil || step < 0 {
		return fmt.Errorf("adamw: load state: metadata %q: invalid step count %q", MetaStep, meta[MetaStep])
	}
	m := make([][]float32, len(o.params))
	v := make([][]float32, len(o.params))
	for i, p := range o.params {
		for _, slot := range []struct {
			suffix string
			dst    *[]float32
		}{{SuffixExpAvg, &m[i]}, {SuffixExpAvgSq, &v[i]}} {
			name := p.Name + slot.suffix
			x, err := src.Float32(name)
			if err != nil {
				return fmt.Errorf("adamw: load state: %w", err)
			}
			if len(x) != o.size(i) {
				return fmt.Errorf("adamw: load state: tensor %q has %d elements, param %q has %d", name, len(x), p.Name, o.size(i))
			}
			if slot.suffix == SuffixExpAvgSq {
				for j, e := range x {
					if !(e >= 0) || math.IsInf(float64(e), 0) {
						return fmt.Errorf("adamw: load state: tensor %q: element %d is %v, want a finite value >= 0", name, j, e)
					}
				}
			}
			*slot.dst = x
		}
	}
	for i := range o.params {
		o.setMoments(i, m[i], v[i])
	}
	o.step = step
	return nil
}

// LoadStateFile restores the state saved by SaveState at path.
func (o *AdamW) LoadStateFile(path string) error {
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("adamw: load state: %w", err)
	}
	defer f.Close()
	return o.LoadState(f)
}
