package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/ml/optim"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

// Checkpoint file names inside a checkpoint directory.
const (
	CheckpointWeights   = "weights.safetensors"
	CheckpointOptimizer = "optimizer.safetensors"
	CheckpointStateFile = "state.json"
	checkpointPrefix    = "step-"
)

// CheckpointState is the progress recorded beside a checkpoint's weights.
type CheckpointState struct {
	Step      int     `json:"step"`
	Epoch     float64 `json:"epoch"`
	TrainLoss float64 `json:"train_loss"`
	Seed      uint64  `json:"seed"`
	LR        float64 `json:"lr"` // the peak learning rate of the run
	// EpochIndex and Batch place the data order: the next step starts at
	// micro-batch Batch of epoch EpochIndex's order.
	EpochIndex int `json:"epoch_index"`
	Batch      int `json:"batch"`
	// Data is Config.DataID of the run.
	Data string `json:"data,omitempty"`
}

// checkpointFault lets tests fail a checkpoint after its files are written
// and before it is renamed into place (a full disk at the worst moment).
var checkpointFault = func() error { return nil }

// writeCheckpoint writes the trainable params, the optimizer state and st
// as dir/step-NNNNNNNN: first into a hidden temporary directory, then
// renamed into place, and only then are older checkpoints removed, so a
// failure at any point leaves the previous checkpoint intact.
func writeCheckpoint(dir string, params []*optim.Param, opt *optim.AdamW, st CheckpointState) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	name := fmt.Sprintf("%s%08d", checkpointPrefix, st.Step)
	tmp, err := os.MkdirTemp(dir, "."+name+".tmp")
	if err != nil {
		return "", fmt.Errorf("checkpoint: %w", err)
	}
	fail := func(err error) (string, error) {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("checkpoint step %d: %w", st.Step, err)
	}
	ts := make([]safetensors.Tensor, len(params))
	for i, p := range params {
		ts[i] = safetensors.Tensor{Name: p.Name, DType: tensor.F32, Shape: []int{len(p.Data)}, Data: p.Data}
	}
	if err := safetensors.Write(filepath.Join(tmp, CheckpointWeights), ts, map[string]string{"format": "crucible-checkpoint"}); err != nil {
		return fail(err)
	}
	if err := opt.SaveState(filepath.Join(tmp, CheckpointOptimizer)); err != nil {
		return fail(err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, CheckpointStateFile), b, 0o644); err != nil {
		return fail(err)
	}
	if err := checkpointFault(); err != nil {
		return fail(err)
	}
	final := filepath.Join(dir, name)
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return fail(err)
	}
	// Older checkpoints go only now that the new one is complete.
	for _, old := range listCheckpoints(dir) {
		if old != final {
			os.RemoveAll(old)
		}
	}
	return final, nil
}

// listCheckpoints returns the complete checkpoints in dir, oldest first.
func listCheckpoints(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), checkpointPrefix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// LatestCheckpoint returns the newest complete checkpoint in dir, or "".
func LatestCheckpoint(dir string) string {
	cs := listCheckpoints(dir)
	if len(cs) == 0 {
		return ""
	}
	return cs[len(cs)-1]
}

// ReadCheckpointState reads a checkpoint's progress.
func ReadCheckpointState(ckpt string) (CheckpointState, error) {
	var st CheckpointState
	b, err := os.ReadFile(filepath.Join(ckpt, CheckpointStateFile))
	if err != nil {
		return st, fmt.Errorf("read checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: %w", filepath.Join(ckpt, CheckpointStateFile), err)
	}
	return st, nil
}

// LoadCheckpointWeights copies a checkpoint's weights into params, which
// must be the same tensors (names and sizes) the checkpoint was written
// from. On error params are unchanged.
func LoadCheckpointWeights(ckpt string, params []*optim.Param) error {
	path := filepath.Join(ckpt, CheckpointWeights)
	f, err := safetensors.Open(path)
	if err != nil {
		return fmt.Errorf("load checkpoint: %w", err)
	}
	defer f.Close()
	names := f.Names()
	vals := make([][]float32, len(params))
	for i, p := range params {
		if !slices.Contains(names, p.Name) {
			return fmt.Errorf("%s: missing tensor %q", path, p.Name)
		}
		v, err := f.Float32(p.Name)
		if err != nil {
			return fmt.Errorf("%s: tensor %q: %w", path, p.Name, err)
		}
		if len(v) != len(p.Data) {
			return fmt.Errorf("%s: tensor %q has %d elements, want %d", path, p.Name, len(v), len(p.Data))
		}
		vals[i] = v
	}
	if len(names) != len(params) {
		return errors.New(path + ": holds other tensors than the ones being trained")
	}
	for i, p := range params {
		copy(p.Data, vals[i])
	}
	return nil
}

// snapshot is an in-memory copy of the trainable params.
type snapshot [][]float32

func takeSnapshot(params []*optim.Param, into snapshot) snapshot {
	if into == nil {
		into = make(snapshot, len(params))
	}
	for i, p := range params {
		if len(into[i]) != len(p.Data) {
			into[i] = make([]float32, len(p.Data))
		}
		copy(into[i], p.Data)
	}
	return into
}

func (s snapshot) restore(params []*optim.Param) {
	for i, p := range params {
		copy(p.Data, s[i])
	}
}
