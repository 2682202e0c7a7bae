package main

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

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/tuning"
)

func init() { registerBench(newBenchDataCmd) }

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

func newBenchDataCmd() *cobra.Command {
	var (
		asJSON, keep, check, cold bool
		pipeline                  bool
		sizeMB                    float64
		dir, dataPath, modelDir   string
		steps                     int
		badRow                    int64
	)
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Measure tokenization speed, time to the first training step and peak memory on a dataset of any size",
		Long: `data generates an instruct dataset of about --mb megabytes (JSON Lines of
English-like text, about 560 bytes a row; or takes --data), then runs this
binary on it as child processes and reports for each its wall time and peak
resident memory (RSS):

  check       crucible data check (the row count the store must match)
  split       crucible data split: the validator's preparation (train and
              hidden test split; rows: the train split's), with --pipeline
  tokenize    crucible data tokenize: MB/s of the dataset, the token file's
              size on disk and its row count
  train-cold  crucible train --data with an empty token cache: time from the
              process's start to its first optimizer step, tokenizing included
  train-warm  crucible train --tokens on the token file: the same, without
              tokenizing
  eval        crucible eval of train-warm's result on the hidden test split,
              as the validator evaluates a submission, with --pipeline
  bad-row     with --bad-row N: crucible train --data on a copy of the
              dataset's first rows whose row N is broken JSON; the run must
              fail before its first step naming the file and line N, and
              leave no token file, output or work directory behind

Training uses the shipped model (crucible-tiny) unless --model is given, and
stops after --steps optimizer steps. Generated files go under --dir and are
removed at the end; with --keep the dataset stays in --dir, and a dataset kept
there is reused by later runs. Dataset, token file and cache need about 2.5
times --mb of free disk space; the command checks before writing.`,
		Example: `  crucible bench data --mb 100
  crucible bench data --mb 1000 --steps 3 --json
  crucible bench data --data ./big.jsonl --check=false
  crucible bench data --mb 100 --bad-row 150000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sizeMB <= 0 || steps < 1 {
				return crucible.Errorf(crucible.EINVALID, "bench data: --mb must be > 0 and --steps ≥ 1, got %g and %d", sizeMB, steps)
			}
			self, err := os.Executable()
			if err != nil {
				return fmt.Errorf("bench data: %w", err)
			}
			if dir == "" {
				dir = filepath.Join(os.TempDir(), "crucible-bench-data")
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "bench data: --dir")
			}
			work, err := os.MkdirTemp(dir, "run-")
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "bench data: --dir")
			}
			defer os.RemoveAll(work)
			logw := cmd.ErrOrStderr()
			if modelDir == "" {
				if modelDir, err = assets.Extract(assets.BaseModel, work); err != nil {
					return err
				}
			}
			size := int64(sizeMB * 1e6)
			if dataPath == "" {
				// A dataset kept by an earlier run (--keep) is reused and
				// left in place; otherwise one is written, into --dir to be
				// kept, or into this run's own directory, so that runs
				// sharing --dir never remove each other's.
				name := fmt.Sprintf("instruct-%dMB.jsonl", int64(sizeMB))
				dataPath = filepath.Join(dir, name)
				if st, err := os.Stat(dataPath); err == nil && st.Size() >= size {
					fmt.Fprintf(logw, "using %s (%.1f MB)\n", dataPath, float64(st.Size())/1e6)
				} else {
					if !keep {
						dataPath = filepath.Join(work, name)
					}
					if err := checkFree(dir, size*5/2); err != nil {
						return err
					}
					fmt.Fprintf(logw, "writing %s (%.0f MB)...\n", dataPath, sizeMB)
					t0 := time.Now()
					rows, err := writeSyntheticFile(cmd.Context(), dataPath, size, 1)
					if err != nil {
						return err
					}
					fmt.Fprintf(logw, "wrote %d rows in %s\n", rows, time.Since(t0).Round(time.Second))
				}
			} else if st, err := os.Stat(dataPath); err != nil {
				return crucible.Wrap(err, crucible.ENOTFOUND, "bench data: --data")
			} else {
				size = st.Size()
				// The runs below work in their own directory.
				if dataPath, err = filepath.Abs(dataPath); err != nil {
					return err
				}
				if err := checkFree(dir, size*3/2); err != nil {
					return err
				}
			}
			st, _ := os.Stat(dataPath)
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
			if check {
				_, out, err := run("check", "data", "check", dataPath, "--json")
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
			if pipeline {
				_, out, err := run("split", "data", "split", dataPath, "--out", split, "--min-rows=-1")
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
			r, out, err := run("tokenize", "data", "tokenize", "--model", modelDir, "--data", dataPath, "--out", store, "--json")
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
			baseArgs := []string{"train", "--model", modelDir, "--max-steps", fmt.Sprint(steps), "--time", "2h"}
			trainArgs := append(slices.Clip(baseArgs), cacheFlag)
			if cold {
				if _, _, err := run("train-cold", append(trainArgs, "--data", dataPath, "--out", filepath.Join(work, "out-cold"))...); err != nil {
					return err
				}
				os.RemoveAll(cache)
			}
			if _, _, err := run("train-warm", append(trainArgs, "--tokens", store, "--out", filepath.Join(work, "out-warm"))...); err != nil {
				return err
			}
			if pipeline {
				if _, _, err := run("eval", "eval", "--model", modelDir, "--adapter", filepath.Join(work, "out-warm"), "--data", filepath.Join(split, "test.jsonl"), "--json"); err != nil {
					return err
				}
			}
			if badRow > 0 {
				r, err := badRowPhase(self, dataPath, work, badRow, baseArgs, logw)
				if err != nil {
					return err
				}
				rows = append(rows, r)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			}
			printDataBench(cmd.OutOrStdout(), dataPath, size, rows)
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&sizeMB, "mb", 100, "size of the generated dataset in megabytes (10^6 bytes)")
	f.StringVar(&dataPath, "data", "", "dataset to use instead of a generated one (instruct, any format)")
	f.StringVar(&dir, "dir", "", "directory for the generated dataset and the runs' files (default: $TMPDIR/crucible-bench-data)")
	f.StringVar(&modelDir, "model", "", "model to tokenize for and train (default: the shipped crucible-tiny)")
	f.IntVar(&steps, "steps", 3, "optimizer steps each training run takes")
	f.BoolVar(&check, "check", true, "run data check first and compare its row count with the token file's")
	f.BoolVar(&pipeline, "pipeline", true, "also run the validator's preparation (data split) and evaluate the trained result on its hidden test split")
	f.BoolVar(&cold, "cold", true, "also train from the raw dataset with an empty token cache")
	f.Int64Var(&badRow, "bad-row", 0, "also train on a copy whose row N is broken and check that the run stops before training, naming the line, and leaves nothing behind (0: skip)")
	f.BoolVar(&keep, "keep", false, "keep the generated dataset (and reuse it next time)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per phase")
	return cmd
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
