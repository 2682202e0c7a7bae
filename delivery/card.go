package delivery

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tensor"
)

// markdown renders the model card: Hugging Face's YAML header (base model,
// library, tags) and what the model is, how it was chosen and how to use it.
func (c Card) markdown(adapter bool, dt tensor.DType) string {
	var b strings.Builder
	library := "transformers"
	if adapter {
		library = "peft"
	}
	fmt.Fprintf(&b, "---\nbase_model: %s\nlibrary_name: %s\ntags:\n- crucible\n- %s\n---\n\n", strconv.Quote(c.BaseModel), library, c.Type)
	kind := "a full fine-tune"
	switch {
	case adapter:
		kind = "a LoRA adapter (PEFT)"
	case c.MergedFrom != "":
		kind = "a full model (" + c.MergedFrom + " merged into its base)"
	}
	fmt.Fprintf(&b, "# %s, fine-tuned on %s\n\n", c.BaseModel, c.Dataset)
	fmt.Fprintf(&b, "This is %s of `%s`, the winner of crucible task `%s`: miners each fine-tuned the base their own way "+
		"within %s, and the validator kept the submission with the best score on a test split no miner saw.\n\n",
		kind, c.BaseModel, c.TaskID, hours(c.Hours))
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| base model | `%s` |\n", c.BaseModel)
	fmt.Fprintf(&b, "| data | %s (%s task), %d rows trained on |\n", c.Dataset, c.Type, c.TrainRows)
	test := fmt.Sprintf("%d hidden rows split from the data", c.TestRows)
	if c.CustomTest {
		test = fmt.Sprintf("the customer's own test set, %d rows", c.TestRows)
	}
	fmt.Fprintf(&b, "| test set | %s |\n", test)
	if c.Type == crucible.TaskGRPO {
		b.WriteString("| metric | mean weighted reward of sampled completions less 0.5 × KL(base‖model); higher is better |\n")
		if c.Reward != nil {
			fmt.Fprintf(&b, "| score | %.4f (the base model: %s) |\n", *c.Reward, num(c.BaseReward))
		}
	} else {
		b.WriteString("| metric | token-weighted cross-entropy on the response tokens of the test set; lower is better |\n")
		if c.TestLoss != nil {
			vs := ""
			if c.BaseLoss != nil && *c.BaseLoss > 0 {
				vs = fmt.Sprintf(", %.1f%% lower", 100*(*c.BaseLoss-*c.TestLoss) / *c.BaseLoss)
			}
			fmt.Fprintf(&b, "| test loss | %.4f (the base model: %s%s) |\n", *c.TestLoss, num(c.BaseLoss), vs)
		}
	}
	fmt.Fprintf(&b, "| weights | %s |\n", dtypeName(adapter, dt))
	if c.Miner != "" {
		fmt.Fprintf(&b, "| trained by | miner `%s` |\n", c.Miner)
	}
	if c.Validator != "" {
		fmt.Fprintf(&b, "| task | %s/tasks/%s |\n", strings.TrimRight(c.Validator, "/"), c.TaskID)
	}
	if len(c.RecipeNotes) > 0 {
		b.WriteString("\n## Recipe\n\nAs the winning miner's trainer recorded it (`training.json`):\n\n")
		for _, n := range c.RecipeNotes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	b.WriteString("\n## Use\n\n```sh\n")
	if adapter {
		fmt.Fprintf(&b, "crucible generate --model %s --adapter . --prompt \"...\"\n```\n\n", c.BaseModel)
		fmt.Fprintf(&b, "With PEFT: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(%q), \".\")`. "+
			"`crucible tasks download %s --merged` gives the adapter merged into the base as a full model.\n", c.BaseModel, c.TaskID)
	} else {
		b.WriteString("crucible generate --model . --prompt \"...\"\n```\n\n")
		b.WriteString("With transformers: `AutoModelForCausalLM.from_pretrained(\".\")`.\n")
	}
	if c.Type == crucible.TaskInstruct || c.Type == crucible.TaskText || c.Type == crucible.TaskGRPO {
		b.WriteString("\nIt was trained on the bare prompt followed by the answer (no chat template): prompt it the same way (`--raw`).\n")
	}
	return b.String()
}

func num(p *float64) string {
	if p == nil {
		return "not measured"
	}
	return fmt.Sprintf("%.4f", *p)
}

func hours(h float64) string {
	if h < 1 {
		return fmt.Sprintf("%.0f minutes", h*60)
	}
	return fmt.Sprintf("%.3g hours", h)
}

func dtypeName(adapter bool, dt tensor.DType) string {
	if adapter {
		return "the adapter's matrices in float32; the base's weights are not included"
	}
	name := "float32"
	switch dt {
	case tensor.BF16:
		name = "bfloat16"
	case tensor.F16:
		name = "float16"
	}
	return name + ", the base model's dtype"
}
