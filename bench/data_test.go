package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// The generated dataset is an instruct dataset of about the size asked,
// the same for the same seed, that data check passes.
func TestWriteSynthetic(t *testing.T) {
	var a, b bytes.Buffer
	rows, err := writeSynthetic(context.Background(), &a, 300_000, 7)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writeSynthetic(context.Background(), &b, 300_000, 7); err != nil || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two datasets of one seed differ")
	}
	if n := a.Len(); n < 300_000 || n > 302_000 {
		t.Fatalf("%d bytes for 300000 asked", n)
	}
	path := filepath.Join(t.TempDir(), "synthetic.jsonl")
	if _, err := writeSyntheticFile(context.Background(), path, 300_000, 7); err != nil {
		t.Fatal(err)
	}
	rep, err := data.Check(path, data.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Type != crucible.TaskInstruct || int64(rep.Rows) != rows {
		t.Fatalf("check: %d rows of %s, %v; want %d instruct rows", rep.Rows, rep.Type, rep.Errors, rows)
	}

	// Cancelled (Ctrl-C), it stops and leaves nothing behind.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	if _, err := writeSyntheticFile(ctx, filepath.Join(dir, "big.jsonl"), 100e6, 7); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v, want context.Canceled", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("a cancelled write left %v", left)
	}
}

// The broken copy holds the rows before the broken one as they were, the
// broken row at its line and a bounded tail; a line past the end is
// refused and leaves no file.
func TestWriteBrokenCopy(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.jsonl")
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "{\"instruction\": \"row %d\", \"output\": \"x\"}\n", i+1)
	}
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "bad.jsonl")
	if err := writeBrokenCopy(src, dst, 500); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	want := strings.Split(b.String(), "\n")
	if len(lines) != 499+rowsAfterBroken {
		t.Fatalf("%d lines, want %d", len(lines), 499+rowsAfterBroken)
	}
	for i, l := range lines {
		w := want[i]
		if i == 499 {
			w = brokenLine
		}
		if l != w {
			t.Fatalf("line %d is %q, want %q", i+1, l, w)
		}
	}
	if err := writeBrokenCopy(src, dst, 3001); err == nil || !strings.Contains(err.Error(), "only 3000 lines") {
		t.Fatalf("line past the end: %v", err)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("a refused copy left %s (%v)", dst, err)
	}
}

// The bad-row phase really trains (crucible, built for the test) on a dataset
// with a broken row deep inside and passes only when the run stops before
// its first step naming the line, leaving nothing behind.
func TestBadRowPhase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs crucible train")
	}
	dir := t.TempDir()
	self := filepath.Join(dir, "crucible")
	if out, err := exec.Command("go", "build", "-o", self, "../cmd/crucible").CombinedOutput(); err != nil {
		t.Fatalf("build crucible: %v\n%s", err, out)
	}
	ds := filepath.Join(dir, "data.jsonl")
	rows, err := writeSyntheticFile(context.Background(), ds, 1_000_000, 3)
	if err != nil {
		t.Fatal(err)
	}
	modelDir, err := assets.Extract(assets.BaseModel, dir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"train", "--model", modelDir, "--max-steps", "1", "--time", "10m"}
	line := rows - 10
	r, err := badRowPhase(self, ds, dir, line, args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rows != line || r.FirstStep != 0 || r.Seconds <= 0 {
		t.Fatalf("row %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad-row")); !os.IsNotExist(err) {
		t.Fatalf("the phase's directory is still there (%v)", err)
	}
}
