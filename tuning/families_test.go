package tuning

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// tinyFamily writes a small model of a reference config's family (its
// quirks kept, its sizes shrunk) with the test tokenizer.
func tinyFamily(t *testing.T, ref string, edit map[string]any) string {
	t.Helper()
	tok, err := tokenizer.Load(tinyBase(t))
	if err != nil {
		t.Fatal(err)
	}
	data, err := model.ReferenceConfigJSON(ref)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
		"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "vocab_size": tok.VocabSize(),
		"max_position_embeddings": 256, "bos_token_id": tok.BOSID(), "eos_token_id": tok.EOSID()} {
		raw[k] = v
	}
	for k, v := range edit {
		raw[k] = v
	}
	b, _ := json.Marshal(raw)
	cfg, err := model.ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), ref)
	if err := m.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := tok.Save(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestFamiliesTrainEvaluateGenerate runs what a miner, a validator and a
// user do — LoRA training with the automatic setup, evaluation against the
// base with the architecture checks, generation through the adapter — on
// small models of the families with the most quirks: Gemma 3 (sliding and
// global layers, q/k norms, (1+w) norms, GeGLU), Qwen3-MoE (experts under
// LoRA) and Phi-4-mini (fused projections, partial LongRoPE).
func TestFamiliesTrainEvaluateGenerate(t *testing.T) {
	for _, tc := range []struct {
		ref  string
		edit map[string]any
	}{
		{"gemma-3-1b", map[string]any{"sliding_window": 8, "sliding_window_pattern": 2, "query_pre_attn_scalar": 16}},
		{"Qwen3-30B-A3B", map[string]any{"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}},
		{"Phi-4-mini-instruct", map[string]any{"original_max_position_embeddings": 64, "sliding_window": 32,
			"rope_scaling": map[string]any{"type": "longrope", "short_factor": []float64{1, 1, 1, 1, 1, 1}, "long_factor": []float64{1, 2, 3, 4, 5, 6}}}},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			base := tinyFamily(t, tc.ref, tc.edit)
			dir := t.TempDir()
			trainPath := writeJSONL(t, dir, "train.jsonl", instructRows(80, 4))
			out := filepath.Join(dir, "adapter")
			res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, OutDir: out, Budget: time.Minute, Seed: 3,
				Recipe: Recipe{LoRA: boolPtr(true), LoRARank: 8, LoRAAlpha: 16, Epochs: 2}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsAdapter {
				t.Fatal("LoRA run did not write an adapter")
			}
			spec := EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, ModelDir: out, TestPath: trainPath}
			r, err := Evaluate(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			spec.ModelDir = ""
			b, err := Evaluate(context.Background(), spec)
			if err != nil {
				t.Fatal(err)
			}
			if r.Failure != "" || !(r.Loss < b.Loss) {
				t.Fatalf("adapter: %+v, base loss %.4f", r, b.Loss)
			}
			text, err := Generate(context.Background(), GenerateSpec{ModelDir: base, Adapter: out, Prompt: "What color is the sky?", MaxTokens: 12}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("loss %.3f → %.3f; %q", b.Loss, r.Loss, strings.TrimSpace(text))
		})
	}
}
