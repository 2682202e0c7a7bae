package optim

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimizer step (0-based: the
// rate for the step taken when StepCount() == step).
type Schedule interface {
	LR(step int) float64
}

// The schedule kinds NewSchedule knows.
const (
	Cosine   = "cosine"
	Linear   = "linear"
	Constant = "constant"
)

// schedule is warmup followed by a decay shape.
type schedule struct {
	kind   string
	peak   float64
	min    float64
	warmup int
	total  int
}

// NewSchedule returns a schedule that warms up linearly from 0 to peakLR
// over warmupSteps (LR(s) = peak·s/warmup, as the Hugging Face schedules
// do), then
//   - "cosine": follows half a cosine from peakLR down to peakLR·minLRRatio
//     at totalSteps;
//   - "linear": falls linearly from peakLR to peakLR·minLRRatio at totalSteps;
//   - "constant": stays at peakLR.
//
// After totalSteps the rate stays at its final value.
func NewSchedule(kind string, peakLR float64, warmupSteps, totalSteps int, minLRRatio float64) (Schedule, error) {
	switch kind {
	case Cosine, Linear, Constant:
	default:
		return nil, fmt.Errorf("schedule: unknown kind %q (want cosine, linear or constant)", kind)
	}
	switch {
	case !(peakLR >= 0) || math.IsInf(peakLR, 0):
		return nil, fmt.Errorf("schedule: peak learning rate %v must be finite and >= 0", peakLR)
	case warmupSteps < 0:
		return nil, fmt.Errorf("schedule: warmup steps %d must be >= 0", warmupSteps)
	case kind != Constant && totalSteps < 1:
		return nil, fmt.Errorf("schedule: total steps %d must be >= 1", totalSteps)
	case kind != Constant && warmupSteps > totalSteps:
		return nil, fmt.Errorf("schedule: warmup steps %d exceed total steps %d", warmupSteps, totalSteps)
	case !(minLRRatio >= 0 && minLRRatio <= 1):
		return nil, fmt.Errorf("schedule: min LR ratio %v must be in [0, 1]", minLRRatio)
	}
	return &schedule{kind: kind, peak: peakLR, min: peakLR * minLRRatio, warmup: warmupSteps, total: totalSteps}, nil
}

func (s *schedule) LR(step int) float64 {
	if step < 0 {
		step = 0
	}
	if step < s.warmup {
		return s.peak * float64(step) / float64(s.warmup)
	}
	if s.kind == Constant {
		return s.peak
	}
	progress := 1.0
	if span := s.total - s.warmup; span > 0 {
		progress = min(1, float64(step-s.warmup)/float64(span))
	}
	if s.kind == Linear {
		return s.peak - (s.peak-s.min)*progress
	}
	return s.min + (s.peak-s.min)*0.5*(1+math.Cos(math.Pi*progress))
}

func (s *schedule) String() string {
	return fmt.Sprintf("%s(peak=%g, min=%g, warmup=%d, total=%d)", s.kind, s.peak, s.min, s.warmup, s.total)
}
