package tuning

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
)

// TestTrainConfigSpec checks how train's settings become a spec: documented
// defaults, overrides of the recipe, the type from rewards or the mapping,
// and the settings that cannot go together refused.
func TestTrainConfigSpec(t *testing.T) {
	var c TrainConfig
	config.Defaults(&c)
	if c.Time != 10*time.Minute || c.Recipe != "auto" || c.Precision != "auto" {
		t.Fatalf("defaults %+v", c)
	}
	c.Model, c.Data, c.Out, c.LR, c.LoRA, c.Memory = "m", "d.jsonl", "o", 2e-4, true, 512
	spec, err := c.Spec(crucible.ColumnMapping{FieldInstruction: "q", FieldOutput: "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Recipe.LR != 2e-4 || spec.Recipe.LoRA == nil || !*spec.Recipe.LoRA || spec.TaskType != crucible.TaskInstruct ||
		spec.Mapping == nil || spec.Memory != 512<<20 || spec.Budget != 10*time.Minute {
		t.Fatalf("spec %+v", spec)
	}
	spec, err = c.Spec(crucible.ColumnMapping{}, []crucible.Reward{{Name: "numeric_answer"}})
	if err != nil || spec.TaskType != crucible.TaskGRPO || spec.Mapping != nil {
		t.Fatalf("rewards make it grpo: %+v %v", spec.TaskType, err)
	}
	for name, bad := range map[string]func(*TrainConfig){
		"lora and full":  func(c *TrainConfig) { c.Full = true },
		"one generation": func(c *TrainConfig) { c.Generations = 1 },
		"bad precision":  func(c *TrainConfig) { c.Precision = "fp8" },
		"bad recipe":     func(c *TrainConfig) { c.Recipe = "nope" },
		"no time":        func(c *TrainConfig) { c.Time = 0 },
	} {
		b := c
		bad(&b)
		if _, err := b.Spec(crucible.ColumnMapping{}, nil); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestEvalResultText(t *testing.T) {
	var b bytes.Buffer
	(&EvalResult{Loss: 1.5, Tokens: 10, SampleMean: 1.4, Samples: 2, Perplexity: 4.48}).WriteText(&b)
	if !strings.Contains(b.String(), "test loss       1.500000") || !strings.Contains(b.String(), "perplexity      4.4800") {
		t.Errorf("loss text %q", b.String())
	}
	b.Reset()
	(&EvalResult{Failure: "not a fine-tune"}).WriteText(&b)
	if b.String() != "failure: not a fine-tune\n" {
		t.Errorf("failure text %q", b.String())
	}
}

// TestEvalConfigRefuses checks the eval settings that cannot go together,
// refused before any model is looked up.
func TestEvalConfigRefuses(t *testing.T) {
	find := ModelFinder{
		Model: func(string) (string, error) { t.Fatal("looked up a model"); return "", nil },
		WithAdapter: func(string, string, io.Writer) (string, string, error) {
			t.Fatal("looked up a model")
			return "", "", nil
		},
	}
	rs := []crucible.Reward{{Name: "numeric_answer"}}
	for name, c := range map[string]struct {
		cfg EvalConfig
		rs  []crucible.Reward
	}{
		"adapter and base":    {EvalConfig{Model: "m", Adapter: "a", Base: "b"}, nil},
		"tokens for grpo":     {EvalConfig{Model: "m", Tokens: "t"}, rs},
		"rewards for dpo":     {EvalConfig{Model: "m", Type: "dpo"}, rs},
		"grpo without reward": {EvalConfig{Model: "m", Type: "grpo"}, nil},
	} {
		if _, err := c.cfg.Evaluate(context.Background(), crucible.ColumnMapping{}, c.rs, find, io.Discard); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}
