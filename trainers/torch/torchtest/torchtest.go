// Package torchtest gives tests a crucible_torch runtime: a Python with
// PyTorch found once per test process. Without one a test is skipped,
// unless CRUCIBLE_TEST_TORCH is set (CI sets it, having installed Debian's
// python3-torch), when it fails: the agreement tests must run there.
// CRUCIBLE_TEST_PYTHON names the interpreter to use; unset, Debian's
// /usr/bin/python3 is tried first (the one CI installs python3-torch for,
// whatever python3 comes first on PATH), then torch.Candidates.
package torchtest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/crucible-net/crucible/trainers/torch"
)

var (
	once sync.Once
	rt   *torch.Runtime
	err  error
)

// Runtime returns the runtime, or skips (fails under CRUCIBLE_TEST_TORCH)
// the test when this machine has no Python with PyTorch.
func Runtime(t testing.TB) *torch.Runtime {
	t.Helper()
	once.Do(func() {
		// The package is extracted under a directory named by its content's
		// hash, shared by test processes and reused across runs.
		dir := filepath.Join(os.TempDir(), "crucible-torchtest")
		py := os.Getenv("CRUCIBLE_TEST_PYTHON")
		if py == "" {
			if rt, err = torch.Find(context.Background(), "/usr/bin/python3", dir); err == nil {
				return
			}
		}
		rt, err = torch.Find(context.Background(), py, dir)
	})
	if err != nil {
		if os.Getenv("CRUCIBLE_TEST_TORCH") != "" {
			t.Fatalf("CRUCIBLE_TEST_TORCH is set but: %v", err)
		}
		t.Skipf("no Python with PyTorch (install python3-torch; CI sets CRUCIBLE_TEST_TORCH): %v", err)
	}
	return rt
}
