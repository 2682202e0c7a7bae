package tuning

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/train"
)

// Recipe fixes training hyperparameters; zero fields are chosen
// automatically. The automatic strategy (the zero Recipe) is the
// zero-click default and the miner's default.
type Recipe struct {
	Name string `json:"name,omitempty"`
	// LoRA forces LoRA (true) or full fine-tuning (false); nil lets the
	// model size and memory decide.
	LoRA      *bool   `json:"lora,omitempty"`
	LoRARank  int     `json:"lora_rank,omitempty"`
	LoRAAlpha float64 `json:"lora_alpha,omitempty"`
	LR        float64 `json:"lr,omitempty"`
	Epochs    float64 `json:"epochs,omitempty"`
	BatchSize int     `json:"batch_size,omitempty"`
	GradAccum int     `json:"grad_accum,omitempty"`
	MaxSteps  int     `json:"max_steps,omitempty"`
	MaxLength int     `json:"max_length,omitempty"` // tokens per sequence; default min(context, 1024)
	// Schedule is the learning rate's decay after the warmup: cosine (the
	// default), linear or constant.
	Schedule string `json:"schedule,omitempty"`
	// WarmupRatio, MinLRRatio (the final rate as a share of LR),
	// WeightDecay (AdamW's) and LoRADropout, when set, replace the
	// engine's defaults (0.05, 0.1, 0.01 and 0.05); 0 is a value here
	// (no warmup, decay to zero, no decay, no dropout).
	WarmupRatio *float64 `json:"warmup_ratio,omitempty"`
	MinLRRatio  *float64 `json:"min_lr_ratio,omitempty"`
	WeightDecay *float64 `json:"weight_decay,omitempty"`
	LoRADropout *float64 `json:"lora_dropout,omitempty"`
	Beta        float64  `json:"beta,omitempty"` // DPO's temperature; GRPO's KL penalty
	// GRPO: completions per prompt (default 8), their length (default
	// DefaultMaxCompletion) and sampling temperature (default 1).
	Generations   int     `json:"generations,omitempty"`
	MaxCompletion int     `json:"max_completion,omitempty"`
	Temperature   float64 `json:"temperature,omitempty"`
	// Merge writes a LoRA run as a merged full model instead of an adapter.
	Merge bool `json:"merge,omitempty"`
	// Precision is the arithmetic of training's matrix products: "auto"
	// (the default: bf16 where the CPU has bf16 instructions), "fp32" or
	// "bf16"; see train.Config.Precision.
	Precision string `json:"precision,omitempty"`
}

func boolPtr(b bool) *bool { return &b }

func floatPtr(x float64) *float64 { return &x }

// Check reports settings that cannot train, naming the field.
func (r Recipe) Check() error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	switch {
	case r.LoRARank < 0 || r.LoRARank > 4096:
		return fmt.Errorf("recipe %s: lora_rank %d must be in [0, 4096]", r.Name, r.LoRARank)
	case r.LR < 0 || bad(r.LR) || r.LR > 1:
		return fmt.Errorf("recipe %s: lr %g must be in [0, 1]", r.Name, r.LR)
	case r.Epochs < 0 || bad(r.Epochs) || r.Epochs > 1000:
		return fmt.Errorf("recipe %s: epochs %g must be in [0, 1000]", r.Name, r.Epochs)
	case r.BatchSize < 0 || r.GradAccum < 0 || r.MaxSteps < 0 || r.MaxLength < 0:
		return fmt.Errorf("recipe %s: batch_size, grad_accum, max_steps and max_length must not be negative", r.Name)
	case r.Schedule != "" && r.Schedule != "cosine" && r.Schedule != "linear" && r.Schedule != "constant":
		return fmt.Errorf("recipe %s: schedule %q must be cosine, linear or constant", r.Name, r.Schedule)
	}
	for name, p := range map[string]*float64{"warmup_ratio": r.WarmupRatio, "min_lr_ratio": r.MinLRRatio, "weight_decay": r.WeightDecay, "lora_dropout": r.LoRADropout} {
		if p != nil && (bad(*p) || *p < 0 || *p >= 1) {
			return fmt.Errorf("recipe %s: %s %g must be in [0, 1)", r.Name, name, *p)
		}
	}
	return nil
}

// engineRatio turns a recipe's explicit ratio into the engine's setting:
// nil keeps the default (0), 0 becomes "none" (negative).
func engineRatio(p *float64) float64 {
	switch {
	case p == nil:
		return 0
	case *p == 0:
		return -1
	}
	return *p
}

// recipes are the named recipes.
var recipes = map[string]Recipe{
	"auto":         {Name: "auto"},
	"lora-fast":    {Name: "lora-fast", LoRA: boolPtr(true), LoRARank: 8, LoRAAlpha: 16, Epochs: 1, MaxLength: 512, Generations: 4, MaxCompletion: 16},
	"lora-quality": {Name: "lora-quality", LoRA: boolPtr(true), LoRARank: 32, LoRAAlpha: 64, Epochs: 3},
	"full":         {Name: "full", LoRA: boolPtr(false)},
	"lora-small":   {Name: "lora-small", LoRA: boolPtr(true), LoRARank: 4, LoRAAlpha: 8, Epochs: 2, MaxLength: 256},
	"full-short":   {Name: "full-short", LoRA: boolPtr(false), Epochs: 1, MaxLength: 256},
}

// RecipeNames lists the named recipes.
func RecipeNames() []string {
	var out []string
	for n := range recipes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NamedRecipe returns a named recipe: "auto" (everything chosen from the
// model, data and budget), "lora-fast" (rank 8, one epoch, short
// sequences; for grpo, groups of 4 completions of at most 16 tokens), "lora-quality" (rank 32, three epochs) or "full" (every
// weight, the rest automatic).
func NamedRecipe(name string) (Recipe, error) {
	r, ok := recipes[name]
	if !ok {
		return Recipe{}, fmt.Errorf("unknown recipe %q (have %s)", name, strings.Join(RecipeNames(), ", "))
	}
	return r, nil
}

// DefaultLR is the engine's learning rate for a model size and mode when
// none is given and no range test runs (train.DefaultLR).
func DefaultLR(params int64, lora bool, t crucible.TaskType) float64 {
	return train.DefaultLR(int(params), lora, t == crucible.TaskDPO || t == crucible.TaskGRPO)
}
