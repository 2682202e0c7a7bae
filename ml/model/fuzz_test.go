package model

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/fuzzguard"
)

// FuzzParseConfig: a submission's config.json is parsed (or refused) in
// time, whatever it holds.
func FuzzParseConfig(f *testing.F) {
	for _, c := range tinyConfigs() {
		if b, err := c.configJSON(); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":1e300,"num_hidden_layers":-1}`))
	f.Add([]byte(`{"model_type":"llama","rope_scaling":{"type":"yarn","factor":"x"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() { ParseConfig(b) })
	})
}

// FuzzReadLoRAConfig: a submission's adapter_config.json is read (or
// refused) in time, whatever it holds.
func FuzzReadLoRAConfig(f *testing.F) {
	f.Add([]byte(`{"peft_type":"LORA","r":8,"lora_alpha":16,"target_modules":["q_proj","v_proj"]}`))
	f.Add([]byte(`{"peft_type":"LORA","r":16384,"lora_alpha":1e308,"target_modules":".*"}`))
	f.Add([]byte(`{"r":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, AdapterConfigFile), b, 0o644); err != nil {
				t.Fatal(err)
			}
			ReadLoRAConfig(dir)
		})
	})
}
