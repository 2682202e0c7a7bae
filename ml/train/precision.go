package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
)

// PrecisionCheck is what ComparePrecisions measured: the validation loss,
// evaluated in fp32, of the starting weights and of the weights each run
// returned.
type PrecisionCheck struct {
	InitialLoss float64 `json:"initial_loss"`
	FP32Loss    float64 `json:"fp32_loss"`
	BF16Loss    float64 `json:"bf16_loss"`
	// RelDiff is |BF16Loss − FP32Loss| / FP32Loss.
	RelDiff float64 `json:"rel_diff"`
	// FP32 and BF16 are the two runs.
	FP32, BF16 *Result `json:"-"`
}

// ComparePrecisions trains the same model on the same data with the same
// settings twice, in fp32 and in bf16 arithmetic (cfg.Precision is
// overridden), and evaluates the weights each run returns on d.Val in fp32:
// whether mixed precision costs quality on this model and data. newModel
// must return identical, ready-to-train models (trainable base or adapter
// attached) on each call.
func ComparePrecisions(ctx context.Context, newModel func() (*model.Model, error), d Data, cfg Config) (*PrecisionCheck, error) {
	if len(d.Val) == 0 {
		return nil, errors.New("compare precisions: no validation sequences")
	}
	out := &PrecisionCheck{}
	for _, p := range []kernel.Precision{kernel.FP32, kernel.BF16} {
		m, err := newModel()
		if err != nil {
			return nil, fmt.Errorf("compare precisions: %w", err)
		}
		if p == kernel.FP32 {
			l, err := eval.Loss(ctx, m, d.Val, cfg.EvalOptions)
			if err != nil {
				return nil, fmt.Errorf("compare precisions: %w", err)
			}
			out.InitialLoss = l.Loss
		}
		c := cfg
		c.Precision = p.String()
		res, err := Run(ctx, m, d, c)
		if err != nil {
			return nil, fmt.Errorf("compare precisions: %s run: %w", p, err)
		}
		m.SetPrecision(kernel.FP32)
		l, err := eval.Loss(ctx, m, d.Val, cfg.EvalOptions)
		if err != nil {
			return nil, fmt.Errorf("compare precisions: %w", err)
		}
		if p == kernel.FP32 {
			out.FP32, out.FP32Loss = res, l.Loss
		} else {
			out.BF16, out.BF16Loss = res, l.Loss
		}
	}
	out.RelDiff = math.Abs(out.BF16Loss-out.FP32Loss) / out.FP32Loss
	return out, nil
}
