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
	rt := torchtest.Runtime(t)
	cmd := exec.Command(rt.Python, "-m", "unittest", "discover", "-s", "tests", "-t", "tests")
	// One PyTorch thread a process (DDP's ranks included): packages' tests
	// run side by side, and spinning threads only cost time.
	cmd.Env = append(os.Environ(), "PYTHONPATH=.:tests", "PYTHONDONTWRITEBYTECODE=1", "OMP_NUM_THREADS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python tests failed: %v\n%s", err, torch.Tail(string(out), 60, 8000))
	}
	t.Log(torch.Tail(string(out), 3, 500))
}

// fakePython is a stand-in interpreter: a shell script run with
// crucible_torch's arguments.
func fakePython(t *testing.T, body string) *torch.Runtime {
	t.Helper()
	p := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return &torch.Runtime{Python: p, Dir: t.TempDir()}
}

// What an evaluation process's failure becomes: bad input is EINVALID, an
// out-of-memory or CUDA error EINTERNAL with a hint, a crash EINTERNAL;
// each carries the process's last lines. Progress lines reach the caller.
func TestEvaluateFailures(t *testing.T) {
	ctx := context.Background()
	spec := torch.EvalSpec{BaseDir: "base", TokensPath: "t"}
	for _, c := range []struct {
		name, body, code, want, hint string
	}{
		{"bad input", `echo "crucible_torch eval: token file t: the data does not match its sha256" >&2; exit 2`,
			crucible.EINVALID, "does not match its sha256", ""},
		{"out of memory", `echo "evaluated 64/900 sequences" >&2; echo "crucible_torch eval: out of memory: CUDA out of memory. Tried to allocate 20.00 GiB" >&2; exit 3`,
			crucible.EINTERNAL, "evaluated 64/900 sequences\ncrucible_torch eval: out of memory", "does not fit"},
		{"CUDA error", `echo "crucible_torch eval: CUDA error: an illegal memory access was encountered" >&2; exit 3`,
			crucible.EINTERNAL, "illegal memory access", "driver"},
		{"crash", `echo "Traceback (most recent call last):" >&2; echo "KeyError: 'x'" >&2; exit 1`,
			crucible.EINTERNAL, "KeyError: 'x'", ""},
		{"killed", `kill -9 $$`, crucible.EINTERNAL, "signal: killed", ""},
		{"not its result", `echo "hello"`, crucible.EINTERNAL, "not its result", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := fakePython(t, c.body).Evaluate(ctx, spec)
			var e *crucible.Error
			if crucible.ErrorCode(err) != c.code || !strings.Contains(err.Error(), c.want) || !asError(err, &e) || !strings.Contains(e.Hint, c.hint) {
				t.Fatalf("got %v (hint %q)", err, e.Hint)
			}
		})
	}
	var lines []string
	rt := fakePython(t, `echo "evaluated 10/20 sequences" >&2
echo '{"loss":1.5,"tokens":7,"samples":2,"failure":"","is_adapter":true,"fingerprint":[0.5],"evaluator":{"kind":"torch","crucible_torch":"1","torch":"2.5.1","cuda":"12.4","device":"NVIDIA H100","engine":"compact"}}'`)
	spec.Progress = func(l string) { lines = append(lines, l) }
	r, err := rt.Evaluate(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Loss != 1.5 || r.Tokens != 7 || !r.IsAdapter || len(r.Fingerprint) != 1 || len(lines) != 1 ||
		r.Evaluator.String() != "crucible_torch 1, torch 2.5.1, CUDA 12.4, NVIDIA H100, compact" {
		t.Errorf("result %+v, identity %q, progress %q", r, r.Evaluator, lines)
	}
}
