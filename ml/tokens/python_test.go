package tokens

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/crucible-net/crucible/ml/eval"
)

// pythonWithNumpy finds a Python 3 that imports numpy, or "": Debian's
// first (CI installs python3-numpy for it), then the first on PATH.
func pythonWithNumpy() string {
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import numpy").Run() == nil {
			return path
		}
	}
	return ""
}

// The numpy reader in docs/tokens.md, run as it is written, reads back the
// sequences and labels crucible wrote: the format is what the document
// says. (CI installs python3-numpy; without it the test cannot run.)
func TestDocumentedNumpyReader(t *testing.T) {
	py := pythonWithNumpy()
	if py == "" {
		t.Skip("no python3 with numpy")
	}
	doc, err := os.ReadFile("../../docs/tokens.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Reading it with numpy\n\n```python\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/tokens.md has no numpy reader")
	}
	for _, vocab := range []int{1000, 100_000} {
		dir := t.TempDir()
		path := filepath.Join(dir, "train.tokens.safetensors")
		seqs := randomSeqs(60, vocab, 9)
		writeStore(t, path, KindSequences, vocab, seqs)
		script := string(m[1]) + `
import sys
out = []
for s in range(len(offsets) - 1):
    seq = ids[offsets[s]:offsets[s + 1]].astype(np.int64)
    labels = np.where(mask[offsets[s]:offsets[s + 1]], seq, -100)
    out.append([seq.tolist(), labels.tolist()])
json.dump({"kind": info["kind"], "vocab": info["vocab_size"], "seqs": out}, sys.stdout)
`
		c := exec.Command(py, "-c", script)
		c.Dir = dir
		b, err := c.Output()
		if err != nil {
			t.Fatalf("the documented reader failed: %v", err)
		}
		var got struct {
			Kind  string
			Vocab int
			Seqs  [][2][]int32
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Kind != KindSequences || got.Vocab != vocab || len(got.Seqs) != len(seqs) {
			t.Fatalf("vocab %d: read kind %q vocab %d, %d sequences", vocab, got.Kind, got.Vocab, len(got.Seqs))
		}
		for i, s := range seqs {
			want := eval.Sequence{IDs: s.IDs, Labels: s.Labels}
			if !slices.Equal(got.Seqs[i][0], want.IDs) || !slices.Equal(got.Seqs[i][1], want.Labels) {
				t.Fatalf("vocab %d: sequence %d read as %v / %v, want %v / %v", vocab, i, got.Seqs[i][0], got.Seqs[i][1], want.IDs, want.Labels)
			}
		}
	}
}
