package miner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/safepath"
)

// checkResult reports whether dir holds a complete Hugging Face result: a
// full model (config.json and model.safetensors or an index with its shards)
// or a PEFT adapter (adapter_config.json and adapter_model.safetensors).
func checkResult(dir string) error {
	exists := func(name string) bool {
		st, err := os.Stat(filepath.Join(dir, name))
		return err == nil && st.Mode().IsRegular() && st.Size() > 0
	}
	switch {
	case exists("adapter_config.json"):
		if !exists("adapter_model.safetensors") {
			return errors.New("adapter_config.json without adapter_model.safetensors")
		}
		return validJSON(filepath.Join(dir, "adapter_config.json"))
	case exists("config.json"):
		if err := validJSON(filepath.Join(dir, "config.json")); err != nil {
			return err
		}
		if exists("model.safetensors") {
			return nil
		}
		if exists("model.safetensors.index.json") {
			var idx struct {
				WeightMap map[string]string `json:"weight_map"`
			}
			b, err := os.ReadFile(filepath.Join(dir, "model.safetensors.index.json"))
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &idx); err != nil {
				return fmt.Errorf("model.safetensors.index.json: %w", err)
			}
			for _, shard := range idx.WeightMap {
				if err := safepath.CheckRel(shard); err != nil || filepath.Base(shard) != shard {
					return fmt.Errorf("model.safetensors.index.json names the shard %q, which is not a file name", shard)
				}
				if !exists(shard) {
					return fmt.Errorf("model.safetensors.index.json names %s, which is missing", shard)
				}
			}
			return nil
		}
		return errors.New("config.json without model.safetensors")
	}
	return fmt.Errorf("%s holds neither a model (config.json + model.safetensors) nor an adapter (adapter_config.json + adapter_model.safetensors)", dir)
}

func validJSON(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !json.Valid(b) {
		return fmt.Errorf("%s is not valid JSON", filepath.Base(path))
	}
	return nil
}
