package tuning

import (
	"fmt"
	"sort"
	"strings"
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
	Beta      float64 `json:"beta,omitempty"`       // DPO's temperature; GRPO's KL penalty
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
