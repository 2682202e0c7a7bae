package dataprep_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/dataprep"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
)

func TestDataPreparer(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "capitals.jsonl")
	var b strings.Builder
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&b, `{"question":"What is the capital of country %d?","answer":"City %d"}`+"\n", i, i)
	}
	os.WriteFile(ds, []byte(b.String()), 0o644)
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	err := safetensors.Write(filepath.Join(model, "model.safetensors"), []safetensors.Tensor{
		{Name: "a", DType: tensor.F32, Shape: []int{3, 4}, Data: make([]float32, 12)},
		{Name: "b", DType: tensor.BF16, Shape: []int{5}, Data: make([]float32, 5)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &dataprep.Preparer{Datasets: hub.Resolver{Kind: hub.Dataset}, Models: dirModels{"m": model},
		Split: data.SplitOptions{Seed: 7, MinRows: 100}}
	task := &crucible.Task{ID: "t", Type: crucible.TaskInstruct, Model: "m", Dataset: ds}
	out := t.TempDir()
	got, err := p.Prepare(context.Background(), task, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.TrainRows != 108 || got.TestRows != 12 || got.ModelParams != 17 {
		t.Errorf("rows %d/%d params %d", got.TrainRows, got.TestRows, got.ModelParams)
	}
	if got.SourceMapping.FieldInstruction != "question" || got.SourceMapping.FieldOutput != "answer" {
		t.Errorf("detected mapping %+v", got.SourceMapping)
	}
	if !strings.Contains(got.Reason, "question") {
		t.Errorf("reason %q does not say what was detected", got.Reason)
	}
	// The splits use the standard columns and never share a prompt.
	seen := map[string]bool{}
	for _, f := range []string{got.TrainPath, got.TestPath} {
		fh, _ := os.Open(f)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
				t.Fatal(err)
			}
			q := row[got.Mapping.FieldInstruction].(string)
			if seen[q] {
				t.Errorf("prompt %q in both splits", q)
			}
			seen[q] = true
		}
		fh.Close()
	}
	// A dataset of another type than the task's is refused with a reason.
	task.Type = crucible.TaskDPO
	if _, err := p.Prepare(context.Background(), task, t.TempDir(), nil); err == nil {
		t.Error("instruct data accepted for a DPO task")
	}
	// Too few rows.
	p.Split.MinRows = 1000
	task.Type = crucible.TaskInstruct
	if _, err := p.Prepare(context.Background(), task, t.TempDir(), nil); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("small dataset: %v", err)
	}
}

// dirModels resolves model names to directories.
type dirModels map[string]string

func (m dirModels) ResolveModel(_ context.Context, name string) (string, error) {
	if d, ok := m[name]; ok {
		return d, nil
	}
	return "", crucible.Errorf(crucible.ENOTFOUND, "model %q not found", name)
}
