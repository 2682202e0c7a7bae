package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/tuning"
)

// dataBenchRow is one phase of the data benchmark: a child process of this
// binary, timed from its start, with its peak resident memory.
type dataBenchRow struct {
	Phase   string  `json:"phase"`
	Command string  `json:"command"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the user and system time the process used: on a
	// machine shared with other work, a figure its load does not stretch
	// as much as the wall time.
	CPUSeconds float64 `json:"cpu_seconds"`
	// FirstStep is the time from the process's start to its first
	// optimizer step (training phases).
	FirstStep float64 `json:"first_step_s,omitempty"`
	MBPerSec  float64 `json:"mb_per_s,omitempty"` // dataset bytes / seconds (tokenize)
	PeakRSS   int64   `json:"peak_rss_bytes"`
	Rows      int64   `json:"rows,omitempty"`
	// StoreBytes is the token store's size on disk (tokenize).
	StoreBytes int64 `json:"store_bytes,omitempty"`
	// Load is the machine's one-minute load average when the phase ended
	// (Linux; 0 elsewhere): wall times on a machine busy with other work
	// stretch with it.
	Load float64 `json:"load,omitempty"`
}

// DataConfig configures "crucible bench data". Each field's doc comment is
// its documentation and states its default (package config).
type DataConfig struct {
	// MB is the size of the generated dataset in megabytes (10^6 bytes).
	// Defaults to `100`.
	MB float64 `flag:"mb"`
	// Data is a dataset to use instead of a generated one (instruct, any
	// format).
	Data string `flag:"data"`
	// Dir is the directory for the generated dataset and the runs' files;
	// empty means $TMPDIR/crucible-bench-data.
	Dir string `flag:"dir"`
	// Model is the model to tokenize for and train; empty means the shipped
	// crucible-tiny.
	Model string `flag:"model"`
	// Steps is the optimizer steps each training run takes. Defaults to `3`.
	Steps int `flag:"steps"`
	// Check runs data check first and compares its row count with the token
	// file's. Defaults to `true`.
	Check bool `flag:"check"`
	// Pipeline also runs the validator's preparation (data split) and
	// evaluates the trained result on its hidden test split. Defaults to
	// `true`.
	Pipeline bool `flag:"pipeline"`
	// Cold also trains from the raw dataset with an empty token cache.
	// Defaults to `true`.
	Cold bool `flag:"cold"`
	// BadRow also trains on a copy whose row N is broken and checks that the
	// run stops before training, naming the line, and leaves nothing behind;
	// 0 skips it.
	BadRow int64 `flag:"bad-row"`
	// Keep keeps the generated dataset (and reuses it next time).
	Keep bool `flag:"keep"`
	// JSON prints one JSON object per phase.
	JSON bool `flag:"json"`
}

// Data runs the data benchmark as cfg says: phases of this binary run as
// child processes on a dataset, each timed with its peak memory; the table
// (or JSON lines) goes to out, progress to logw.
func Data(ctx context.Context, cfg DataConfig, w, logw io.Writer) error {
	if cfg.MB <= 0 || cfg.Steps < 1 {
		return crucible.Errorf(crucible.EINVALID, "bench data: --mb must be > 0 and --steps ≥ 1, got %g and %d", cfg.MB, cfg.Steps)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench data: %w", err)
	}
	if cfg.Dir == "" {
		cfg.Dir = filepath.Join(os.TempDir(), "crucible-bench-data")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "bench data: --dir")
	}
	work, err := os.MkdirTemp(cfg.Dir, "run-")
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "bench data: --dir")
	}
	defer os.RemoveAll(work)
	if cfg.Model == "" {
		if cfg.Model, err = assets.Extract(assets.BaseModel, work); err != nil {
			return err
		}
	}
	size := int64(cfg.MB * 1e6)
	if cfg.Data == "" {
		// A dataset kept by an earlier run (--keep) is reused and
		// left in place; otherwise one is written, into --dir to be
		// kept, or into this run's own directory, so that runs
		// sharing --dir never remove each other's.
		name := fmt.Sprintf("instruct-%dMB.jsonl", int64(cfg.MB))
		cfg.Data = filepath.Join(cfg.Dir, name)
		if st, err := os.Stat(cfg.Data); err == nil && st.Size() >= size {
			fmt.Fprintf(logw, "using %s (%.1f MB)\n", cfg.Data, float64(st.Size())/1e6)
		} else {
			if !cfg.Keep {
				cfg.Data = filepath.Join(work, name)
			}
			if err := checkFree(cfg.Dir, size*5/2); err != nil {
				return err
			}
			fmt.Fprintf(logw, "writing %s (%.0f MB)...\n", cfg.Data, cfg.MB)
			t0 := time.Now()
			rows, err := writeSyntheticFile(ctx, cfg.Data, size, 1)
			if err != nil {
				return err
			}
			fmt.Fprintf(logw, "wrote %d rows in %s\n", rows, time.Since(t0).Round(time.Second))
		}
	} else if st, err := os.Stat(cfg.Data); err != nil {
		return crucible.Wrap(err, crucible.ENOTFOUND, "bench data: --data")
	} else {
		size = st.Size()
		// The runs below work in their own directory.
		if cfg.Data, err = filepath.Abs(cfg.Data); err != nil {
			return err
		}
		if err := checkFree(cfg.Dir, size*3/2); err != nil {
			return err
		}
	}
	st, _ := os.Stat(cfg.Data)
	size = st.Size()

	var rows []dataBenchRow
	run := func(phase string, args ...string) (dataBenchRow, []byte, error) {
		fmt.Fprintf(logw, "%s: crucible %s\n", phase, strings.Join(args, " "))
		r, out, err := runChild(self, args, work)
		r.Phase = phase
		r.Command = "crucible " + strings.Join(args, " ")
		if err != nil {
			return r, out, fmt.Errorf("bench data: %s: %w", phase, err)
		}
		// Each phase as it ends: a long run shows its figures so far.
		fmt.Fprintf(logw, "%s: %.1f s (%.1f CPU s), first step %.1f s, peak RSS %.0f MiB, load %.1f\n", phase, r.Seconds, r.CPUSeconds, r.FirstStep, float64(r.PeakRSS)/(1<<20), r.Load)
		rows = append(rows, r)
		return r, out, nil
	}
	cache := filepath.Join(work, "cache")
	cacheFlag := "--token-cache=" + cache
	var checkRows int64 = -1
	if cfg.Check {
		_, out, err := run("check", "data", "check", cfg.Data, "--json")
		if err != nil {
			return err
		}
		var rep struct{ Rows int64 }
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("bench data: data check's report: %w", err)
		}
		checkRows = rep.Rows
		rows[len(rows)-1].Rows = rep.Rows
	}
	split := filepath.Join(work, "split")
	if cfg.Pipeline {
		_, out, err := run("split", "data", "split", cfg.Data, "--out", split, "--min-rows=-1")
		if err != nil {
			return err
		}
		var rep data.Prepared
		if err := json.Unmarshal(out, &rep); err != nil {
			return fmt.Errorf("bench data: data split's report: %w", err)
		}
		rows[len(rows)-1].Rows = int64(rep.TrainRows)
		// The train split is not used below: only its size counts.
		os.Remove(filepath.Join(split, "train.jsonl"))
	}
	store := filepath.Join(work, "data.tokens.safetensors")
	r, out, err := run("tokenize", "data", "tokenize", "--model", cfg.Model, "--data", cfg.Data, "--out", store, "--json")
	if err != nil {
		return err
	}
	var rep tuning.TokenizeReport
	if err := json.Unmarshal(out, &rep); err != nil {
		return fmt.Errorf("bench data: data tokenize's report: %w", err)
	}
	k := len(rows) - 1
	rows[k].Rows, rows[k].StoreBytes, rows[k].MBPerSec = rep.Source.Rows, rep.Bytes, float64(size)/r.Seconds/1e6
	if checkRows >= 0 && rep.Source.Rows != checkRows {
		return fmt.Errorf("bench data: the token file holds %d rows, data check counts %d", rep.Source.Rows, checkRows)
	}
	baseArgs := []string{"train", "--model", cfg.Model, "--max-steps", fmt.Sprint(cfg.Steps), "--time", "2h"}
	trainArgs := append(slices.Clip(baseArgs), cacheFlag)
	if cfg.Cold {
		if _, _, err := run("train-cold", append(trainArgs, "--data", cfg.Data, "--out", filepath.Join(work, "out-cold"))...); err != nil {
			return err
		}
		os.RemoveAll(cache)
	}
	if _, _, err := run("train-warm", append(trainArgs, "--tokens", store, "--out", filepath.Join(work, "out-warm"))...); err != nil {
		return err
	}
	if cfg.Pipeline {
		if _, _, err := run("eval", "eval", "--model", cfg.Model, "--adapter", filepath.Join(work, "out-warm"), "--data", filepath.Join(split, "test.jsonl"), "--json"); err != nil {
			return err
		}
	}
	if cfg.BadRow > 0 {
		r, err := badRowPhase(self, cfg.Data, work, cfg.BadRow, baseArgs, logw)
		if err != nil {
			return err
		}
		rows = append(rows, r)
	}
	if cfg.JSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	printDataBench(w, cfg.Data, size, rows)
	return nil
}

// runChild runs this binary with args, timing it from its start to its end
// and to the first line of its standard error that reports step 1. A child
// that fails returns an error ending with the last lines of its standard
// error.
func runChild(self string, args []string, dir string) (dataBenchRow, []byte, error) {
	r, out, _, err := runChildTail(self, args, dir)
	return r, out, err
}

// runChildTail is runChild that also returns the last lines of the
// child's standard error.
func runChildTail(self string, args []string, dir string) (dataBenchRow, []byte, []string, error) {
	var r dataBenchRow
	c := exec.Command(self, args...)
	c.Dir = dir
	var stdout bytes.Buffer
	c.Stdout = &stdout
	stderr, err := c.StderrPipe()
	if err != nil {
		return r, nil, nil, err
	}
	t0 := time.Now()
	if err := c.Start(); err != nil {
		return r, nil, nil, err
	}
	var tail []string
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if r.FirstStep == 0 && strings.Contains(line, "step 1/") {
			r.FirstStep = time.Since(t0).Seconds()
		}
		tail = append(tail, line)
		if len(tail) > 20 {
			tail = tail[1:]
		}
	}
	err = c.Wait()
	r.Seconds = time.Since(t0).Seconds()
	r.Load = loadAverage()
	r.PeakRSS = childPeakRSS(c.ProcessState)
	r.CPUSeconds = (c.ProcessState.UserTime() + c.ProcessState.SystemTime()).Seconds()
	if err != nil {
		return r, stdout.Bytes(), tail, fmt.Errorf("%w; its last lines:\n%s", err, strings.Join(tail, "\n"))
	}
	return r, stdout.Bytes(), tail, nil
}

func printDataBench(w io.Writer, path string, size int64, rows []dataBenchRow) {
	fmt.Fprintf(w, "dataset %s: %.1f MB\n", path, float64(size)/1e6)
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tseconds\tCPU s\tfirst step s\tMB/s\tpeak RSS MiB\trows\tstore MB\tload\t")
	opt := func(x float64, format string) string {
		if x == 0 {
			return "-"
		}
		return fmt.Sprintf(format, x)
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%s\t%s\t%.0f\t%s\t%s\t%s\t\n", r.Phase, r.Seconds, r.CPUSeconds, opt(r.FirstStep, "%.1f"), opt(r.MBPerSec, "%.1f"),
			float64(r.PeakRSS)/(1<<20), opt(float64(r.Rows), "%.0f"), opt(float64(r.StoreBytes)/1e6, "%.1f"), opt(r.Load, "%.1f"))
	}
	tw.Flush()
	for _, r := range rows {
		if r.Phase == "bad-row" {
			fmt.Fprintf(w, "bad-row: training stopped before its first step with the broken row's line %d named, after %.1f s; nothing was left behind\n", r.Rows, r.Seconds)
		}
	}
}

// loadAverage is the one-minute load average, 0 where /proc/loadavg
// cannot be read.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var x float64
	if _, err := fmt.Sscan(string(b), &x); err != nil {
		return 0
	}
	return x
}

// checkFree refuses to start when dir's file system has less than need
// bytes free.
func checkFree(dir string, need int64) error {
	free, ok := freeBytes(dir)
	if ok && free < need {
		return crucible.Errorf(crucible.EINVALID, "bench data: %s has %.1f GB free, the run needs about %.1f GB", dir, float64(free)/1e9, float64(need)/1e9).
			WithHint("use a smaller --mb, or --dir on a larger disk")
	}
	return nil
}

// writeSyntheticFile writes about size bytes of instruct rows to path
// (atomically: a partial file never has the final name, and runs writing
// the same path at once each write their own temporary file). It stops,
// removing what it wrote, when ctx is cancelled (Ctrl-C).
func writeSyntheticFile(ctx context.Context, path string, size int64, seed uint64) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	rows, err := writeSynthetic(ctx, f, size, seed)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("bench data: write %s: %w", path, err)
	}
	return rows, nil
}

// writeSynthetic writes instruct rows ({"instruction", "output"}, some
// with an "input") of English-like text until about size bytes are
// written, deterministically from seed: spans of a generated corpus cut at
// word boundaries, about 560 bytes a row. It returns ctx's error once ctx
// is cancelled.
func writeSynthetic(ctx context.Context, w io.Writer, size int64, seed uint64) (int64, error) {
	corpus := tokenizer.SampleText(8<<20, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5e7))
	span := func(minLen, maxLen int) string {
		n := minLen + rng.IntN(maxLen-minLen+1)
		lo := rng.IntN(len(corpus) - n - 64)
		if i := strings.IndexByte(corpus[lo:], ' '); i >= 0 && i < 32 {
			lo += i + 1
		}
		hi := lo + n
		if i := strings.IndexByte(corpus[hi:], ' '); i >= 0 && i < 32 {
			hi += i
		}
		return strings.TrimSpace(corpus[lo:hi])
	}
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	type row struct {
		Instruction string `json:"instruction"`
		Input       string `json:"input,omitempty"`
		Output      string `json:"output"`
	}
	var rows int64
	for cw.n+int64(bw.Buffered()) < size {
		r := row{Instruction: span(30, 220), Output: span(80, 640)}
		if rng.IntN(4) == 0 {
			r.Input = span(20, 200)
		}
		if err := enc.Encode(r); err != nil {
			return rows, err
		}
		rows++
		if rows%1024 == 0 && ctx.Err() != nil {
			return rows, ctx.Err()
		}
	}
	if err := bw.Flush(); err != nil {
		return rows, err
	}
	if rows == 0 {
		return 0, errors.New("nothing written")
	}
	return rows, nil
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n += int64(k)
	return k, err
}
