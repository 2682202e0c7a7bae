package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// Load reads a Hugging Face model directory: config.json,
// generation_config.json (optional) and model.safetensors or its shards.
// Weights stored as F32, F16 or BF16 are converted to float32 — except
// that when every matrix (projections, embeddings, head) is stored as BF16
// the base is held in bf16 as stored (see HoldBaseBF16), half the memory
// and no float32 copy made; Params, SetTrainBase(true) and the like widen
// it when asked, exactly. Every tensor
// the config implies must be present with its exact shape, and no other
// tensor may be (the non-persistent buffers some checkpoints carry —
// attention masks, rotary inv_freq — and a tied lm_head.weight are skipped).
func Load(dir string) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	m, err := allocEmpty(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	if m.Generation, err = ReadGenerationConfig(dir, cfg); err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load model weights: %w", err)
	}
	defer set.Close()
	seen := make([]bool, len(m.layout.infos))
	type stored struct {
		name, file string
		idx        int
	}
	var tensors []stored
	held, allBF16 := m.heldTensors(), true
	for _, name := range set.Names() {
		file, _ := set.File(name)
		canon, skip := m.canonicalName(name)
		if skip {
			continue
		}
		idx, ok := m.layout.index[canon]
		if !ok {
			return nil, fmt.Errorf("%s: unexpected tensor %q: %s has no such parameter", file, name, cfg.Architecture)
		}
		if seen[idx] {
			return nil, fmt.Errorf("%s: tensor %q is stored twice (with and without the \"transformer.\" prefix)", file, name)
		}
		seen[idx] = true
		tensors = append(tensors, stored{name, file, idx})
		if info, _ := set.Info(name); held[canon] && info.DType != tensor.BF16 {
			allBF16 = false
		}
	}
	if allBF16 {
		m.half = make([]uint16, m.layout.size)
		m.kept = &layout{index: map[string]int{}}
		for _, p := range m.layout.infos {
			if !held[p.Name] {
				m.kept.add(p.Name, p.NoDecay, p.Shape...)
			}
		}
		m.keptBuf = make([]float32, m.kept.size)
	} else {
		m.params = make([]float32, m.layout.size)
	}
	for _, t := range tensors {
		p := m.layout.infos[t.idx]
		var err error
		switch {
		case m.half != nil && held[p.Name]:
			err = readTensorBF16(set, t.file, t.name, p.Shape, m.half[p.Offset:p.Offset+p.Size])
		case m.half != nil:
			err = readTensor(set, t.file, t.name, p.Shape, m.kept.view(m.keptBuf, p.Name))
		default:
			err = readTensor(set, t.file, t.name, p.Shape, m.params[p.Offset:p.Offset+p.Size])
		}
		if err != nil {
			return nil, err
		}
	}
	m.bind()
	weights := filepath.Join(dir, safetensors.SingleFile)
	if set.Shards() > 1 {
		weights = filepath.Join(dir, safetensors.IndexFile)
	}
	for i, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("%s: missing tensor %q (shape %v)", weights, m.layout.infos[i].Name, m.layout.infos[i].Shape)
		}
	}
	return m, nil
}

// tensorSource is what readTensor needs of an open safetensors file or set.
type tensorSource interface {
	Info(name string) (safetensors.TensorInfo, bool)
	ReadFloat32(name string, dst []float32) error
}

// readTensor checks the stored tensor's dtype and shape and converts it into dst.
func readTensor(src tensorSource, file, name string, shape []int, dst []float32) error {
	info, _ := src.Info(name)
	switch info.DType {
	case tensor.F32, tensor.F16, tensor.BF16:
	default:
		return fmt.Errorf("%s: tensor %q has dtype %s; want F32, F16 or BF16", file, name, info.DType)
	}
	if !slices.Equal(info.Shape, shape) {
		return fmt.Errorf("%s: tensor %q has shape %v, want %v", file, name, info.Shape, shape)
	}
	if err := src.ReadFloat32(name, dst); err != nil {
		return fmt.Errorf("%s: tensor %q: %w", file, name, err)
	}
	return nil
}

// readTensorBF16 is readTensor for a tensor stored as BF16, copied as is.
func readTensorBF16(set *safetensors.Set, file, name string, shape []int, dst []uint16) error {
	raw, dt, err := set.Raw(name)
	if err != nil {
		return fmt.Errorf("%s: tensor %q: %w", file, name, err)
	}
	info, _ := set.Info(name)
	switch {
	case dt != tensor.BF16:
		return fmt.Errorf("%s: tensor %q has dtype %s; want BF16", file, name, dt)
	case !slices.Equal(info.Shape, shape):
		return fmt.Errorf("%s: tensor %q has shape %v, want %v", file, name, info.Shape, shape)
	case len(raw) != 2*len(dst):
		return fmt.Errorf("%s: tensor %q holds %d bytes, want %d", file, name, len(raw), 2*len(dst))
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return nil
}

// canonicalName maps a stored tensor name to the layout's name, and reports
// tensors that are to be skipped.
func (m *Model) canonicalName(name string) (string, bool) {
	if m.cfg.Family == GPT2 {
		if strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") {
			return "", true
		}
		if name == "lm_head.weight" {
			return "", true // tied to the token embedding
		}
		if !strings.HasPrefix(name, "transformer.") {
			name = "transformer." + name // the original OpenAI checkpoints omit the prefix
		}
		return name, false
	}
	if strings.HasSuffix(name, "rotary_emb.inv_freq") {
		return "", true
	}
	if name == "lm_head.weight" && m.cfg.TieEmbeddings {
		return "", true
	}
	return name, false
}

// Save writes the model as a Hugging Face directory: config.json (float32,
// with its architecture), generation_config.json and model.safetensors
// (F32, metadata format "pt"), loadable by transformers and by Load.
func (m *Model) Save(dir string) error { return m.SaveAs(dir, tensor.F32) }

// SaveAs is Save with the weights stored as dt (F32, F16 or BF16; narrowing
// rounds to nearest even) and config.json's torch_dtype naming it: what a
// model trained in float32 is delivered in when its base came in bf16.
func (m *Model) SaveAs(dir string, dt tensor.DType) error {
	if dt != tensor.F32 && dt != tensor.F16 && dt != tensor.BF16 {
		return fmt.Errorf("save model: cannot store weights as %s", dt)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	cj, err := m.cfg.configJSON()
	if err != nil {
		return fmt.Errorf("save model config: %w", err)
	}
	if dt != tensor.F32 {
		var raw map[string]any
		if err := json.Unmarshal(cj, &raw); err != nil {
			return fmt.Errorf("save model config: %w", err)
		}
		raw["torch_dtype"] = torchDType(dt)
		if cj, err = json.MarshalIndent(raw, "", "  "); err != nil {
			return fmt.Errorf("save model config: %w", err)
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, "config.json"), cj); err != nil {
		return fmt.Errorf("save model config: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "generation_config.json"), m.Generation.json()); err != nil {
		return fmt.Errorf("save generation config: %w", err)
	}
	params := m.params
	if m.half != nil {
		params = m.expandedParams() // a base held in bf16, widened for writing
	}
	tensors := make([]safetensors.Tensor, len(m.layout.infos))
	for i, p := range m.layout.infos {
		tensors[i] = safetensors.Tensor{Name: p.Name, DType: dt, Shape: p.Shape, Data: params[p.Offset : p.Offset+p.Size]}
	}
	if err := safetensors.WriteDir(dir, tensors, map[string]string{"format": "pt"}, 0); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	return nil
}

// torchDType is PyTorch's name of a float dtype, as config.json's
// torch_dtype gives it.
func torchDType(dt tensor.DType) string {
	switch dt {
	case tensor.BF16:
		return "bfloat16"
	case tensor.F16:
		return "float16"
	}
	return "float32"
}

func (g GenerationConfig) json() []byte {
	out := map[string]any{"_from_model_config": true}
	if g.BOS >= 0 {
		out["bos_token_id"] = g.BOS
	}
	switch len(g.EOS) {
	case 0:
	case 1:
		out["eos_token_id"] = g.EOS[0]
	default:
		out["eos_token_id"] = g.EOS
	}
	if g.DoSample {
		out["do_sample"], out["temperature"], out["top_p"] = true, g.Temperature, g.TopP
	}
	if g.MaxNewTokens > 0 {
		out["max_new_tokens"] = g.MaxNewTokens
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return b
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
