package torch_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/trainers/torch"
	"github.com/crucible-net/crucible/trainers/torch/torchtest"
)

// A Python without PyTorch is refused with the fix, naming what was tried.
func TestFindWithoutTorch(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "python3")
	os.WriteFile(fake, []byte("#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n"), 0o755)
	_, err := torch.Find(context.Background(), fake, filepath.Join(dir, "pkg"))
	var e *crucible.Error
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "No module named 'torch'") ||
		!asError(err, &e) || !strings.Contains(e.Hint, "python3-torch") {
		t.Fatalf("got %v", err)
	}
	_, err = torch.Find(context.Background(), filepath.Join(dir, "no-such-python"), filepath.Join(dir, "pkg"))
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing interpreter: %v", err)
	}
}

func asError(err error, e **crucible.Error) bool {
	for err != nil {
		if x, ok := err.(*crucible.Error); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// Extract writes the package once per content and reuses it.
func TestExtract(t *testing.T) {
	dir := t.TempDir()
	a, err := torch.Extract(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := torch.Extract(dir)
	if err != nil || a != b {
		t.Fatalf("second extraction %q (%v), first %q", b, err, a)
	}
	for _, f := range []string{"crucible_torch/__main__.py", "crucible_torch/train.py", "configs/llama-3.2-1b.json"} {
		if _, err := os.Stat(filepath.Join(a, f)); err != nil {
			t.Error(err)
		}
	}
	if names := torch.ConfigNames(); len(names) < 4 {
		t.Errorf("configs %v", names)
	}
	// The embedded package says the version this code expects.
	b2, _ := os.ReadFile(filepath.Join(a, "crucible_torch/__init__.py"))
	if !strings.Contains(string(b2), `VERSION = "`+torch.Version+`"`) {
		t.Errorf("crucible_torch's VERSION is not %s", torch.Version)
	}
}

func TestTrainArgv(t *testing.T) {
	rt := &torch.Runtime{Python: "/usr/bin/python3", Dir: "/x"}
	if got := strings.Join(rt.TrainArgv(1, "--mode", "lora"), " "); got != "/usr/bin/python3 -m crucible_torch train --mode lora" {
		t.Errorf("one GPU: %s", got)
	}
	if got := strings.Join(rt.TrainArgv(8), " "); got != "/usr/bin/python3 -m torch.distributed.run --standalone --nproc_per_node 8 -m crucible_torch train" {
		t.Errorf("eight GPUs: %s", got)
	}
}

// The Python package's own tests: token files, safetensors, the
// fingerprint, packing, LoRA, the submission checks, training (full, LoRA,
// DPO, the time limit, bad input) and DDP on two CPU processes.
func TestPythonPackage(t *testing.T) {
	t.Parallel()
	rt := torchtest.Runtime(t)
	cmd := exec.Command(rt.Python, "-m", "unittest", "discover", "-s", "tests", "-t", "tests")
	cmd.Env = append(os.Environ(), "PYTHONPATH=.:tests", "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python tests failed: %v\n%s", err, torch.Tail(string(out), 60, 8000))
	}
	t.Log(torch.Tail(string(out), 3, 500))
}
