package tuning

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TrainingFile is the name of the JSON record of a training run written
// beside the model: every choice with its reason, and the results.
const TrainingFile = "training.json"

// trainingRecord is what TrainingFile holds.
type trainingRecord struct {
	BaseModel  string         `json:"base_model"`
	TaskType   string         `json:"task_type"`
	Mapping    any            `json:"mapping"`
	DataSHA256 string         `json:"data_sha256"`
	IsAdapter  bool           `json:"is_adapter"`
	Recipe     Recipe         `json:"recipe"`
	Settings   Settings       `json:"settings"`
	Tokenize   any            `json:"tokenize"`
	Choices    any            `json:"choices"`
	Results    map[string]any `json:"results"`
	Warnings   []string       `json:"warnings,omitempty"`
	Seed       uint64         `json:"seed"`
	Duration   float64        `json:"duration_s"`
}

// writeCard writes README.md (a Hugging Face model card) and
// training.json into dir.
func writeCard(dir string, spec Spec, res *Result) error {
	tr := res.Train
	results := map[string]any{
		"steps": tr.Steps, "epochs": round(tr.Epochs), "tokens": tr.Tokens, "tokens_per_s": math.Round(tr.TokensPerS),
		"first_train_loss": jsonNum(tr.FirstLoss), "final_train_loss": jsonNum(tr.TrainLoss),
		"initial_val_loss": jsonNum(tr.InitialValLoss), "val_loss": jsonNum(tr.ValLoss), "best_step": tr.BestStep,
		"lr": tr.LR, "stop_reason": tr.StopReason,
	}
	if res.TaskType == "dpo" {
		results["initial_reward_accuracy"], results["reward_accuracy"], results["reward_margin"] = tr.InitialRewardAccuracy, tr.RewardAccuracy, tr.Margin
	}
	if g := res.GRPO; g != nil {
		results["first_reward"], results["train_reward"] = jsonNum(g.FirstReward), jsonNum(g.TrainReward)
		results["initial_val_reward"], results["val_reward"] = jsonNum(g.InitialValReward), jsonNum(g.ValReward)
		results["reward_names"], results["val_parts"] = g.RewardNames, g.ValParts
		results["completions"], results["sample_tokens_per_s"] = g.Completions, math.Round(g.SampleTokensPerS)
		results["sampling_s"], results["reward_s"], results["backward_s"] = round(g.Cost.Sampling.Seconds()), round(g.Cost.Reward.Seconds()), round(g.Cost.Backward.Seconds())
	}
	rec := trainingRecord{BaseModel: res.BaseModel, TaskType: string(res.TaskType), Mapping: res.Mapping, DataSHA256: res.DataSHA256,
		IsAdapter: res.IsAdapter, Recipe: res.Recipe, Settings: res.Settings, Tokenize: res.Tokenize, Choices: res.Choices, Results: results,
		Warnings: tr.Warnings, Seed: spec.Seed, Duration: round(res.Duration.Seconds())}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, TrainingFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var c strings.Builder
	kind := "full fine-tune"
	if res.IsAdapter {
		kind = "LoRA adapter (PEFT)"
	}
	fmt.Fprintf(&c, "---\nbase_model: %s\nlibrary_name: %s\ntags:\n- crucible\n- %s\n---\n\n", yamlString(res.BaseModel), libraryName(res.IsAdapter), res.TaskType)
	fmt.Fprintf(&c, "# %s fine-tuned with crucible\n\n", res.BaseModel)
	fmt.Fprintf(&c, "A %s of `%s` on %s %s dataset (sha256 `%s`), trained by crucible on %s.\n\n", kind, res.BaseModel, article(string(res.TaskType)), res.TaskType, res.DataSHA256, time.Now().UTC().Format("2006-01-02"))
	c.WriteString("## Results\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&c, "| steps | %d (%.2f epochs, %d tokens, %.0f tokens/s) |\n", tr.Steps, tr.Epochs, tr.Tokens, tr.TokensPerS)
	fmt.Fprintf(&c, "| training loss | %.4f at the first step, %.4f at the end |\n", tr.FirstLoss, tr.TrainLoss)
	if !math.IsNaN(tr.ValLoss) {
		fmt.Fprintf(&c, "| validation loss | %.4f before training, %.4f after (weights of step %d) |\n", tr.InitialValLoss, tr.ValLoss, tr.BestStep)
	}
	if res.TaskType == "dpo" {
		fmt.Fprintf(&c, "| validation reward accuracy | %.3f before, %.3f after (margin %.4f) |\n", tr.InitialRewardAccuracy, tr.RewardAccuracy, tr.Margin)
	}
	if g := res.GRPO; g != nil {
		fmt.Fprintf(&c, "| reward (sampled) | %.4f at the first step, %.4f at the end |\n", g.FirstReward, g.TrainReward)
		if !math.IsNaN(g.ValReward) {
			fmt.Fprintf(&c, "| validation reward | %.4f before training, %.4f after (weights of step %d) |\n", g.InitialValReward, g.ValReward, tr.BestStep)
		}
		fmt.Fprintf(&c, "| rewards | %s |\n", strings.Join(g.RewardNames, ", "))
		fmt.Fprintf(&c, "| sampling | %d completions, %.0f tokens/s; time: sampling %.1fs, reward %.1fs, backward %.1fs |\n", g.Completions, g.SampleTokensPerS,
			g.Cost.Sampling.Seconds(), g.Cost.Reward.Seconds(), g.Cost.Backward.Seconds())
	}
	fmt.Fprintf(&c, "| stopped | %s |\n\n", tr.StopReason)
	c.WriteString("## Hyperparameters and why\n\n| setting | value | reason |\n|---|---|---|\n")
	for _, ch := range res.Choices {
		fmt.Fprintf(&c, "| %s | %v | %s |\n", ch.Name, ch.Value, strings.ReplaceAll(ch.Reason, "|", "\\|"))
	}
	if len(tr.Warnings) > 0 {
		c.WriteString("\n## Warnings\n\n")
		for _, w := range tr.Warnings {
			fmt.Fprintf(&c, "- %s\n", w)
		}
	}
	fmt.Fprintf(&c, "\nThe per-step metrics are in `metrics.jsonl`; every choice is also in `%s`.\n", TrainingFile)
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(c.String()), 0o644)
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func libraryName(adapter bool) string {
	if adapter {
		return "peft"
	}
	return "transformers"
}

func yamlString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func round(x float64) float64 { return math.Round(x*1e4) / 1e4 }
