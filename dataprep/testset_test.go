package dataprep_test

import (
	"context"
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

// TestCustomerTestSet prepares a task with the customer's own test set:
// every row of the dataset goes to train, every row of the test set (read
// with the dataset's columns) is the test split; a test set with other
// columns or of another type is refused.
func TestCustomerTestSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, n int, format string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, format+"\n", i, i)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(b.String()), 0o644)
		return p
	}
	ds := write("train.jsonl", 120, `{"question":"What is the capital of country %d?","answer":"City %d"}`)
	own := write("test.jsonl", 15, `{"question":"Which city governs province %d?","answer":"Town %d"}`)
	other := write("other.jsonl", 15, `{"text":"line %d of %d"}`)
	model := filepath.Join(dir, "model")
	os.MkdirAll(model, 0o755)
	safetensors.Write(filepath.Join(model, "model.safetensors"), []safetensors.Tensor{{Name: "a", DType: tensor.F32, Shape: []int{2}, Data: make([]float32, 2)}}, nil)
	p := &dataprep.Preparer{Datasets: hub.Resolver{Kind: hub.Dataset}, Models: dirModels{"m": model}, Split: data.SplitOptions{Seed: 7, MinRows: 100}}

	task := &crucible.Task{ID: "t", Type: crucible.TaskInstruct, Model: "m", Dataset: ds, TestDataset: own}
	got, err := p.Prepare(context.Background(), task, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.TrainRows != 120 || got.TestRows != 15 {
		t.Fatalf("rows %d train / %d test, want 120 / 15", got.TrainRows, got.TestRows)
	}
	trainB, _ := os.ReadFile(got.TrainPath)
	testB, _ := os.ReadFile(got.TestPath)
	if n := strings.Count(string(trainB), "\n"); n != 120 || strings.Contains(string(trainB), "province") {
		t.Errorf("train split: %d rows, test set rows in it: %v", n, strings.Contains(string(trainB), "province"))
	}
	if n := strings.Count(string(testB), "\n"); n != 15 || strings.Contains(string(testB), "country") {
		t.Errorf("test split: %d rows, dataset rows in it: %v", n, strings.Contains(string(testB), "country"))
	}
	task.TestDataset = other
	if _, err := p.Prepare(context.Background(), task, t.TempDir(), nil); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a test set without the dataset's columns: %v", err)
	}
	task.TestDataset = filepath.Join(dir, "missing.jsonl")
	if _, err := p.Prepare(context.Background(), task, t.TempDir(), nil); err == nil {
		t.Error("a missing test set was accepted")
	}
}
