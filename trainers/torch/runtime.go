package torch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Version is the version of the contract between crucible and
// crucible_torch (its command line, its JSON, the metric's definition); it
// equals crucible_torch.VERSION, which Find checks.
const Version = "1"

//go:embed crucible_torch/*.py configs/*.json
var files embed.FS

// Candidates are the interpreters Find tries, in order, when none is
// configured.
var Candidates = []string{"python3", "/usr/bin/python3", "/usr/local/bin/python3"}

// Info is what a Python offers crucible (crucible_torch info).
type Info struct {
	CrucibleTorch string   `json:"crucible_torch"`
	Python        string   `json:"python"`
	Torch         string   `json:"torch"`
	CUDA          *string  `json:"cuda"`
	GPUs          int      `json:"gpus"`
	GPUNames      []string `json:"gpu_names"`
	GPUMemory     []int64  `json:"gpu_memory"`
	BF16          bool     `json:"bf16"`
	SDPA          bool     `json:"sdpa"`
	Threads       int      `json:"threads"`
	Transformers  *string  `json:"transformers"`
	PEFT          *string  `json:"peft"`
}

// String summarizes the info on one line.
func (i Info) String() string {
	s := fmt.Sprintf("PyTorch %s (Python %s)", i.Torch, i.Python)
	if i.CUDA != nil && i.GPUs > 0 {
		s += fmt.Sprintf(", CUDA %s, %d GPU", *i.CUDA, i.GPUs)
		if i.GPUs > 1 {
			s += "s"
		}
		if len(i.GPUNames) > 0 {
			s += " (" + i.GPUNames[0] + ")"
		}
	} else {
		s += ", no GPU: training and evaluation run on the CPU"
	}
	if i.Transformers != nil {
		s += ", transformers " + *i.Transformers
		if i.PEFT != nil {
			s += ", peft " + *i.PEFT
		}
	} else {
		s += ", compact modules (GPT-2, Llama, Qwen2, Mistral)"
	}
	return s
}

// Runtime is a Python with PyTorch and the extracted crucible_torch package.
type Runtime struct {
	Python string // the interpreter's path
	Dir    string // the directory holding crucible_torch (PYTHONPATH)
	Info   Info
}

// Extract writes the embedded crucible_torch package (and its bench
// configs) under dir, in a subdirectory named by the content's hash, and
// returns that subdirectory: the PYTHONPATH for the package. An existing
// complete copy is reused.
func Extract(dir string) (string, error) {
	var names []string
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := files.ReadFile(n)
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	out := filepath.Join(dir, "crucible_torch-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := os.Stat(filepath.Join(out, ".complete")); err == nil {
		return out, nil
	}
	tmp, err := os.MkdirTemp(dir, ".extract-")
	if err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
		}
		if tmp, err = os.MkdirTemp(dir, ".extract-"); err != nil {
			return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
		}
	}
	defer os.RemoveAll(tmp)
	for _, n := range names {
		b, _ := files.ReadFile(n)
		dst := filepath.Join(tmp, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
	}
	if err := os.Rename(tmp, out); err != nil {
		if _, serr := os.Stat(filepath.Join(out, ".complete")); serr == nil {
			return out, nil // another process extracted it first
		}
		return "", crucible.Wrap(err, crucible.EINTERNAL, "extract crucible_torch")
	}
	return out, nil
}

// ConfigNames lists the benchmark shapes shipped in configs/.
func ConfigNames() []string {
	entries, _ := fs.ReadDir(files, "configs")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), path.Ext(e.Name())))
	}
	return out
}

// Find returns the Runtime of python (or, when it is empty, of the first
// of Candidates that imports torch), with the package extracted under dir.
// It returns EINVALID, naming every interpreter tried and why it failed,
// when none has PyTorch.
func Find(ctx context.Context, python, dir string) (*Runtime, error) {
	pkg, err := Extract(dir)
	if err != nil {
		return nil, err
	}
	cands := Candidates
	if python != "" {
		cands = []string{python}
	}
	var tried []string
	seen := map[string]bool{}
	for _, c := range cands {
		p, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: not found", c))
			continue
		}
		if real, err := filepath.EvalSymlinks(p); err == nil && seen[real] {
			continue
		} else if err == nil {
			seen[real] = true
		}
		rt := &Runtime{Python: p, Dir: pkg}
		info, err := rt.info(ctx)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if info.CrucibleTorch != Version {
			tried = append(tried, fmt.Sprintf("%s: crucible_torch %s, want %s", p, info.CrucibleTorch, Version))
			continue
		}
		rt.Info = info
		return rt, nil
	}
	return nil, crucible.Errorf(crucible.EINVALID, "no Python with PyTorch found (%s)", strings.Join(tried, "; ")).
		WithHint("install PyTorch (Debian: apt-get install python3-torch; else pip install torch), or name the interpreter with --python")
}

// info runs crucible_torch info.
func (r *Runtime) info(ctx context.Context) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Python, "-m", "crucible_torch", "info")
	cmd.Env = r.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Info{}, fmt.Errorf("%s", lastLine(stderr.Bytes(), err))
	}
	var info Info
	if err := json.Unmarshal(out, &info); err != nil {
		return Info{}, fmt.Errorf("crucible_torch info printed %q: %v", truncate(string(out), 200), err)
	}
	return info, nil
}

// Env is the environment crucible_torch runs in: this process's, with the
// package on PYTHONPATH, unbuffered output and no bytecode files in the
// extracted copy.
func (r *Runtime) Env() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "_CRUCIBLE_TORCH_STARTED=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, r.ExtraEnv()...)
}

// ExtraEnv is what Env adds to this process's environment.
func (r *Runtime) ExtraEnv() []string {
	pp := r.Dir
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp += string(os.PathListSeparator) + old
	}
	return []string{"PYTHONPATH=" + pp, "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"}
}

// TrainArgv is the trainer's command line for gpus GPUs: one process, or
// torchrun with one process per GPU; extra arguments follow.
func (r *Runtime) TrainArgv(gpus int, extra ...string) []string {
	argv := []string{r.Python}
	if gpus > 1 {
		argv = append(argv, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", strconv.Itoa(gpus))
	}
	argv = append(argv, "-m", "crucible_torch", "train")
	return append(argv, extra...)
}

// lastLine is the last non-empty line of a command's output, or its error.
func lastLine(out []byte, err error) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return truncate(l, 300)
	}
	return err.Error()
}

// Tail returns the last n non-empty lines of text, at most max bytes.
func Tail(text string, n, max int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			keep = append(keep, strings.TrimRight(lines[i], "\r"))
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	s := strings.Join(keep, "\n")
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
