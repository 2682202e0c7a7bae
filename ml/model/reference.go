package model

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

// referenceFS holds the config.json of a well-known checkpoint of each
// supported family, as published (configs/<name>.json). They give the real
// shapes to benchmarks (a random model of the same shape needs no weights)
// and to the test that walks every key of every family.
//
//go:embed configs/*.json
var referenceFS embed.FS

// ReferenceConfigs lists the names of the embedded reference configs, sorted
// (e.g. "Qwen2.5-0.5B", "gemma-3-1b").
func ReferenceConfigs() []string {
	entries, _ := referenceFS.ReadDir("configs")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// ReferenceConfigJSON returns the embedded config.json of a reference
// checkpoint.
func ReferenceConfigJSON(name string) ([]byte, error) {
	b, err := referenceFS.ReadFile(path.Join("configs", name+".json"))
	if err != nil {
		return nil, fmt.Errorf("no reference config %q (have: %s)", name, strings.Join(ReferenceConfigs(), ", "))
	}
	return b, nil
}

// ReferenceConfig parses the embedded config.json of a reference checkpoint.
func ReferenceConfig(name string) (Config, error) {
	b, err := ReferenceConfigJSON(name)
	if err != nil {
		return Config{}, err
	}
	c, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("reference config %s: %w", name, err)
	}
	return c, nil
}

// ParamCount is the number of parameters a model of the config holds (tied
// embeddings counted once), without allocating it.
func ParamCount(c Config) int { return newLayout(&c).size }
