package train

import (
	"fmt"

	"github.com/crucible-net/crucible/ml/model"
)

// SetupFacts is what automatic setup looks at.
type SetupFacts struct {
	Model    model.Config
	Params   int   // base parameters
	Examples int   // training examples (pairs for DPO)
	MaxLen   int   // tokens of the longest example
	Memory   int64 // bytes the run may use
	DPO      bool
	// LoRA, when non-nil, forces LoRA (true) or full fine-tuning (false).
	LoRA *bool
	// BatchSize and GradAccum, when positive, are kept as given.
	BatchSize, GradAccum int
}

// Setup is the automatic choice of training mode and batch shape.
type Setup struct {
	LoRA           bool
	LoRAConfig     model.LoRAConfig // when LoRA
	BatchSize      int
	GradAccum      int
	MaxBatchTokens int
	Choices        []Choice
}

// fullMaxParams is the largest model fine-tuned in full by default.
const fullMaxParams = 300_000_000

// LoRATargets are the projections LoRA adapts by default: every attention
// and MLP projection of the family (model.DefaultLoRATargets).
func LoRATargets(c model.Config) []string { return model.DefaultLoRATargets(c) }

// ActivationBytesPerToken estimates the training activations one token of
// a micro-batch keeps (every layer's saved values plus the backward
// scratch), in bytes.
func ActivationBytesPerToken(c model.Config, loraRank int) int64 {
	return 4 * model.ActivationFloatsPerToken(c, loraRank)
}

// ChooseSetup picks LoRA or full fine-tuning, the micro-batch and the
// accumulation from the model size, the data and the memory budget, and
// says why.
func ChooseSetup(f SetupFacts) (Setup, error) {
	var s Setup
	choose := func(name string, v any, why string) {
		s.Choices = append(s.Choices, Choice{Name: name, Value: v, Reason: why})
	}
	if f.Memory <= 0 {
		f.Memory = 4 << 30
	}
	n := int64(f.Params)
	// Full fine-tuning keeps weights, gradients, two AdamW moments and a
	// copy of the best weights (and for DPO the reference): 5-6 copies.
	copies := int64(5)
	if f.DPO {
		copies = 6
	}
	fullStatic := 4 * n * copies
	switch {
	case f.LoRA != nil:
		s.LoRA = *f.LoRA
		choose("mode", modeName(s.LoRA), "as requested")
	case f.Params > fullMaxParams:
		s.LoRA = true
		choose("mode", "lora", fmt.Sprintf("%.0fM parameters: above %dM, full fine-tuning is too slow per step; LoRA trains a small adapter", float64(n)/1e6, fullMaxParams/1_000_000))
	case fullStatic > f.Memory*6/10:
		s.LoRA = true
		choose("mode", "lora", fmt.Sprintf("full fine-tuning needs about %s for weights, gradients and optimizer state, over 60%% of the %s memory budget", bytesText(fullStatic), bytesText(f.Memory)))
	default:
		choose("mode", "full", fmt.Sprintf("%.1fM parameters: small enough to fine-tune every weight (about %s of state within the %s memory budget), which learns more per step than an adapter", float64(n)/1e6, bytesText(fullStatic), bytesText(f.Memory)))
	}
	static := fullStatic
	rank := 0
	if s.LoRA {
		rank = 16
		dropout := 0.05
		if f.DPO {
			dropout = 0 // the DPO weights come from a forward pass without dropout
		}
		s.LoRAConfig = model.LoRAConfig{Rank: rank, Alpha: 32, Dropout: dropout, TargetModules: LoRATargets(f.Model)}
		choose("lora", fmt.Sprintf("r=%d alpha=32 dropout=%g on %v", rank, dropout, s.LoRAConfig.TargetModules), "every attention and MLP projection, rank 16 with alpha 2·r: the common strong default")
		static = 4 * n * 2
	}
	perTok := ActivationBytesPerToken(f.Model, rank)
	room := f.Memory - static - 4*int64(128*f.Model.Vocab)
	maxTok := int(min(16384, max(256, room/max(perTok, 1))))
	s.MaxBatchTokens = maxTok
	choose("max batch tokens", maxTok, fmt.Sprintf("activations take about %s per token; what fits in the memory left (at most 16384)", bytesText(perTok)))
	longest := max(f.MaxLen, 1)
	if f.BatchSize > 0 {
		s.BatchSize = f.BatchSize
		choose("batch size", s.BatchSize, "as requested")
	} else {
		b := max(1, min(16, maxTok/longest))
		why := fmt.Sprintf("%d tokens per micro-batch over the longest example's %d, at most 16", maxTok, longest)
		if f.Examples/10 < b {
			b = max(1, f.Examples/10)
			why = fmt.Sprintf("%d examples: small enough batches for at least 10 steps per epoch", f.Examples)
		}
		s.BatchSize = b
		choose("batch size", b, why)
	}
	if f.GradAccum > 0 {
		s.GradAccum = f.GradAccum
		choose("gradient accumulation", s.GradAccum, "as requested")
	} else {
		a := max(1, (16+s.BatchSize-1)/s.BatchSize)
		for a > 1 && f.Examples/(s.BatchSize*a) < 10 {
			a--
		}
		s.GradAccum = a
		choose("gradient accumulation", a, fmt.Sprintf("about 16 examples per optimizer step (%d × %d) while keeping at least 10 steps per epoch", s.BatchSize, a))
	}
	return s, nil
}

func modeName(lora bool) string {
	if lora {
		return "lora"
	}
	return "full"
}

func bytesText(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
}
