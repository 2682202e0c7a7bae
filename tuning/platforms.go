package tuning

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// PlatformFacts is what a managed platform's zero-configuration defaults
// depend on: the size of the training set and the base model's own
// pretraining learning rate (OpenAI scales that one).
type PlatformFacts struct {
	// Examples is the number of training examples.
	Examples int
	// PretrainLR is the peak learning rate the base was pretrained with;
	// 0 means unknown, and 3e-4 is used (the peak rate of Llama 2 7B and
	// 13B, Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned
	// Chat Models", table 1). crucible-tiny was pretrained at 2e-3
	// (tools/assets, pretrainLR).
	PretrainLR float64
}

// Platform is a managed fine-tuning service whose defaults a recipe
// copies, with where each number comes from.
type Platform struct {
	Name    string // the recipe's name: together, vertex, openai, autotrain, axolotl
	Title   string // the service, as people know it
	Sources []string
	recipe  func(PlatformFacts) Recipe
}

// Recipe returns the platform's zero-configuration recipe for a task.
func (p Platform) Recipe(f PlatformFacts) Recipe {
	r := p.recipe(f)
	r.Name = p.Name
	return r
}

// Platforms lists the platform recipes, by name: what each managed service
// does when a customer gives it a model and a dataset and nothing else.
// The numbers come from each platform's public documentation or its
// official client's defaults (the Sources); where a platform does not say,
// the recipe keeps crucible's engine default and says so. Every platform
// trains with crucible's engine on the same data and time budget, so only
// the hyperparameters differ: packing, 8-bit optimizers and the hardware
// of the real services are not reproduced.
func Platforms() []Platform {
	out := []Platform{
		{
			// Together AI's fine-tuning API (client
			// togethercomputer/together-python, FineTuning.create in
			// src/together/resources/finetune.py at eba5e5f, 2025-12-23; the
			// API reference docs.together.ai/reference/post-fine-tunes):
			// n_epochs 1, learning_rate 1e-5, lr_scheduler_type "cosine"
			// with min_lr_ratio 0, warmup_ratio 0, weight_decay 0,
			// max_grad_norm 1 (the engine's too), lora true with
			// lora_dropout 0 on all linear layers, lora_r the model's
			// largest supported rank (the docstring: 8) and lora_alpha
			// twice the rank, batch_size "max" (the largest the model
			// allows: here the largest micro-batch the memory budget
			// allows, as the engine's automatic batch picks it).
			Name: "together", Title: "Together AI",
			Sources: []string{
				"https://docs.together.ai/reference/post-fine-tunes",
				"https://github.com/togethercomputer/together-python/blob/eba5e5f034a391df90e4a8336546314be78ba058/src/together/resources/finetune.py",
			},
			recipe: func(PlatformFacts) Recipe {
				return Recipe{LoRA: boolPtr(true), LoRARank: 8, LoRAAlpha: 16, LoRADropout: floatPtr(0), LR: 1e-5, Epochs: 1,
					GradAccum: 1, Schedule: "cosine", MinLRRatio: floatPtr(0), WarmupRatio: floatPtr(0), WeightDecay: floatPtr(0)}
			},
		},
		{
			// Google's tuning service: the Gemini tuning hyperparameters
			// (ai.google.dev/api/python/google/generativeai/protos/Hyperparameters):
			// epoch_count 5; batch_size 4 or 16 and learning_rate 0.001 or
			// 0.0002 "based on the number of training examples";
			// learning_rate_multiplier 1.0 (Vertex AI's tuning API,
			// cloud.google.com/vertex-ai/generative-ai/docs/model-reference/tuning,
			// has the same multiplier and an adapter size of 1 to 32).
			// Not published, so chosen here: the size threshold (1000
			// examples: below it batch 4 at 1e-3, from it batch 16 at
			// 2e-4), the adapter size (LoRA rank 4, alpha 8) and the
			// schedule, warmup and weight decay (the engine's defaults).
			Name: "vertex", Title: "Google Vertex AI",
			Sources: []string{
				"https://ai.google.dev/api/python/google/generativeai/protos/Hyperparameters",
				"https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/tuning",
			},
			recipe: func(f PlatformFacts) Recipe {
				batch, lr := 16, 2e-4
				if f.Examples < 1000 {
					batch, lr = 4, 1e-3
				}
				return Recipe{LoRA: boolPtr(true), LoRARank: 4, LoRAAlpha: 8, LR: lr, Epochs: 5, BatchSize: min(batch, 16), GradAccum: max(1, batch/16)}
			},
		},
		{
			// OpenAI's fine-tuning API, as its OpenAPI description
			// documented the defaults (openai/openai-openapi,
			// openapi.yaml, CreateFineTuneRequest at 66e329ae, 2022-01-19;
			// today's fine_tuning/jobs say only "auto"): n_epochs 4;
			// batch_size about 0.2% of the training examples, capped at
			// 256; learning_rate_multiplier 0.05, 0.1 or 0.2 of the
			// pretraining learning rate "depending on final batch_size",
			// larger for larger batches (the thresholds are not published:
			// here below 32 → 0.05, below 128 → 0.1, else 0.2). Every
			// weight is trained (the service did not offer adapters);
			// schedule, warmup and decay are not documented (the engine's
			// defaults). prompt_loss_weight 0.01 is close to the engine's
			// loss on the response only.
			Name: "openai", Title: "OpenAI fine-tuning",
			Sources: []string{
				"https://github.com/openai/openai-openapi/blob/66e329ae9a4e8d0567751014e7a8a8eb88d5e6f0/openapi.yaml",
			},
			recipe: func(f PlatformFacts) Recipe {
				batch := min(256, max(1, int(math.Round(0.002*float64(f.Examples)))))
				mult := 0.2
				switch {
				case batch < 32:
					mult = 0.05
				case batch < 128:
					mult = 0.1
				}
				pre := f.PretrainLR
				if pre <= 0 {
					pre = 3e-4
				}
				return Recipe{LoRA: boolPtr(false), LR: mult * pre, Epochs: 4, BatchSize: min(batch, 16), GradAccum: max(1, (batch+15)/16)}
			},
		},
		{
			// Hugging Face AutoTrain's LLM trainer defaults
			// (huggingface/autotrain-advanced,
			// src/autotrain/trainers/clm/params.py at b5c98fb,
			// 2025-01-21): lr 3e-5, epochs 1, batch_size 2,
			// gradient_accumulation 4, warmup_ratio 0.1, scheduler
			// "linear" (to zero, as transformers' linear schedule does),
			// weight_decay 0, max_grad_norm 1, peft false (every weight
			// trained).
			Name: "autotrain", Title: "Hugging Face AutoTrain",
			Sources: []string{
				"https://github.com/huggingface/autotrain-advanced/blob/b5c98fbe3aab61101e9c8f7f6c64407cbb68e400/src/autotrain/trainers/clm/params.py",
			},
			recipe: func(PlatformFacts) Recipe {
				return Recipe{LoRA: boolPtr(false), LR: 3e-5, Epochs: 1, BatchSize: 2, GradAccum: 4, Schedule: "linear",
					MinLRRatio: floatPtr(0), WarmupRatio: floatPtr(0.1), WeightDecay: floatPtr(0)}
			},
		},
		{
			// Axolotl's example config for a small Llama
			// (axolotl-ai-cloud/axolotl, examples/llama-3/lora-1b.yml at
			// 067b021, 2026-07-24): adapter lora with lora_r 16,
			// lora_alpha 32, lora_dropout 0.05; learning_rate 2e-4;
			// num_epochs 1; micro_batch_size 2 with
			// gradient_accumulation_steps 2; lr_scheduler cosine (to zero,
			// transformers' cosine); warmup_ratio 0.1; weight_decay 0.
			// Its sample packing and 8-bit AdamW are not reproduced.
			Name: "axolotl", Title: "Axolotl (example config)",
			Sources: []string{
				"https://github.com/axolotl-ai-cloud/axolotl/blob/067b021c8b87a9e5e380b9173c704cf7340e30f5/examples/llama-3/lora-1b.yml",
			},
			recipe: func(PlatformFacts) Recipe {
				return Recipe{LoRA: boolPtr(true), LoRARank: 16, LoRAAlpha: 32, LoRADropout: floatPtr(0.05), LR: 2e-4, Epochs: 1,
					BatchSize: 2, GradAccum: 2, Schedule: "cosine", MinLRRatio: floatPtr(0), WarmupRatio: floatPtr(0.1), WeightDecay: floatPtr(0)}
			},
		},
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// PlatformNamed returns the platform recipe of that name.
func PlatformNamed(name string) (Platform, error) {
	var names []string
	for _, p := range Platforms() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Platform{}, fmt.Errorf("unknown platform %q (have %s)", name, strings.Join(names, ", "))
}
