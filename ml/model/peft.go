package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// The file names of a PEFT adapter directory.
const (
	AdapterConfigFile  = "adapter_config.json"
	AdapterWeightsFile = "adapter_model.safetensors"
)

// adapterConfig is the subset of PEFT's adapter_config.json crucible reads
// and writes.
type adapterConfig struct {
	PeftType          string   `json:"peft_type"`
	TaskType          string   `json:"task_type"`
	R                 int      `json:"r"`
	LoraAlpha         float64  `json:"lora_alpha"`
	LoraDropout       float64  `json:"lora_dropout"`
	TargetModules     []string `json:"target_modules"`
	BaseModel         string   `json:"base_model_name_or_path"`
	FanInFanOut       bool     `json:"fan_in_fan_out"`
	Bias              string   `json:"bias"`
	InferenceMode     bool     `json:"inference_mode"`
	InitLoraWeights   bool     `json:"init_lora_weights"`
	UseRSLoRA         bool     `json:"use_rslora"`
	UseDoRA           bool     `json:"use_dora"`
	ModulesToSave     []string `json:"modules_to_save"`
	LayersToTransform []int    `json:"layers_to_transform"`
}

// SaveAdapter writes the attached adapter as a PEFT LoRA directory:
// adapter_config.json and adapter_model.safetensors with PEFT's tensor names
// (base_model.model.<module>.lora_A.weight [r, in], lora_B.weight [out, r]).
func (m *Model) SaveAdapter(dir string) error {
	l := m.lora
	if l == nil {
		return errors.New("save adapter: no adapter attached")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	ac := adapterConfig{
		PeftType: "LORA", TaskType: "CAUSAL_LM", R: l.cfg.Rank, LoraAlpha: l.cfg.Alpha, LoraDropout: l.cfg.Dropout,
		TargetModules: l.cfg.TargetModules, BaseModel: l.cfg.BaseModel, FanInFanOut: m.cfg.Family == GPT2,
		Bias: "none", InferenceMode: true, InitLoraWeights: true,
	}
	b, err := json.MarshalIndent(ac, "", "  ")
	if err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, AdapterConfigFile), b); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	tensors := make([]safetensors.Tensor, len(l.infos))
	for i, p := range l.infos {
		tensors[i] = safetensors.Tensor{Name: p.Name, DType: tensor.F32, Shape: p.Shape, Data: l.params[p.Offset : p.Offset+p.Size]}
	}
	if err := safetensors.Write(filepath.Join(dir, AdapterWeightsFile), tensors, map[string]string{"format": "pt"}); err != nil {
		return fmt.Errorf("save adapter: %w", err)
	}
	return nil
}

// ReadLoRAConfig reads dir/adapter_config.json.
func ReadLoRAConfig(dir string) (LoRAConfig, error) {
	path := filepath.Join(dir, AdapterConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return LoRAConfig{}, fmt.Errorf("read adapter config: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return LoRAConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	var ac adapterConfig
	if err := json.Unmarshal(b, &ac); err != nil {
		var s struct {
			TargetModules string `json:"target_modules"`
		}
		if json.Unmarshal(b, &s) == nil && s.TargetModules != "" {
			return LoRAConfig{}, fmt.Errorf("%s: target_modules %q is a regular expression; only a list of module names is supported", path, s.TargetModules)
		}
		return LoRAConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case ac.PeftType != "LORA":
		return LoRAConfig{}, fmt.Errorf("%s: peft_type %q is not supported (want LORA)", path, ac.PeftType)
	case ac.UseDoRA:
		return LoRAConfig{}, fmt.Errorf("%s: use_dora is not supported", path)
	case ac.UseRSLoRA:
		return LoRAConfig{}, fmt.Errorf("%s: use_rslora is not supported", path)
	case ac.Bias != "" && ac.Bias != "none":
		return LoRAConfig{}, fmt.Errorf("%s: bias %q is not supported (want none)", path, ac.Bias)
	case len(ac.ModulesToSave) > 0:
		return LoRAConfig{}, fmt.Errorf("%s: modules_to_save is not supported", path)
	case len(ac.LayersToTransform) > 0:
		return LoRAConfig{}, fmt.Errorf("%s: layers_to_transform is not supported", path)
	case ac.R <= 0 || !(ac.LoraAlpha > 0) || math.IsInf(ac.LoraAlpha, 0):
		return LoRAConfig{}, fmt.Errorf("%s: r %d and lora_alpha %g must be positive", path, ac.R, ac.LoraAlpha)
	}
	if _, ok := raw["lora_alpha"]; !ok {
		ac.LoraAlpha = 8 // PEFT's default
	}
	return LoRAConfig{Rank: ac.R, Alpha: ac.LoraAlpha, Dropout: ac.LoraDropout, TargetModules: ac.TargetModules, BaseModel: ac.BaseModel}, nil
}

// LoadAdapter reads a PEFT LoRA directory and attaches it (freezing the
// base). The adapter must fit this base: every tensor must name a module
// the base has, with the shapes its sizes imply; an adapter trained for
// another base gives an error naming the file and the tensor.
func (m *Model) LoadAdapter(dir string) error {
	cfg, err := ReadLoRAConfig(dir)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, AdapterWeightsFile)
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("load adapter: %w", err)
	}
	defer f.Close()
	// The adapter's size is checked before it is allocated: an adapter
	// larger than its base model is none, and a large one whose file cannot
	// hold the parameters its config claims is a lie (either would make a
	// reader allocate what a few bytes of JSON ask for). Small ones are
	// checked tensor by tensor below.
	if cfg.Rank > 0 && cfg.Rank <= 1<<14 {
		if n, base := m.loraSize(cfg), len(m.Params()); n > base {
			return fmt.Errorf("%s: rank %d gives %d adapter parameters, more than the base model's %d", filepath.Join(dir, AdapterConfigFile), cfg.Rank, n, base)
		} else if st, err := os.Stat(path); err == nil && n > 1<<20 && st.Size() < int64(n)*2 {
			return fmt.Errorf("%s: %d bytes cannot hold the %d parameters of a rank-%d adapter", path, st.Size(), n, cfg.Rank)
		}
	}
	prev := m.lora
	l, err := m.AddLoRA(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, AdapterConfigFile), err)
	}
	fail := func(err error) error {
		m.RemoveLoRA()
		if prev != nil {
			m.attach(prev)
		}
		return err
	}
	want := map[string]int{}
	for i, p := range l.infos {
		want[p.Name] = i
	}
	seen := make([]bool, len(l.infos))
	for _, name := range f.Names() {
		i, ok := want[name]
		if !ok {
			return fail(fmt.Errorf("%s: tensor %q does not belong to a targeted module of this %s base model", path, name, m.cfg.Architecture))
		}
		seen[i] = true
		p := l.infos[i]
		if err := readTensor(f, path, name, p.Shape, l.params[p.Offset:p.Offset+p.Size]); err != nil {
			return fail(fmt.Errorf("%w (is the adapter for another base model?)", err))
		}
	}
	for i, ok := range seen {
		if !ok {
			return fail(fmt.Errorf("%s: missing tensor %q (shape %v)", path, l.infos[i].Name, l.infos[i].Shape))
		}
	}
	return nil
}

// attach re-attaches a previously built adapter.
func (m *Model) attach(l *LoRA) {
	for _, mod := range l.modules {
		m.linears[mod.name].lora = mod
	}
	m.lora = l
}
