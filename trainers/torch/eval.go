package torch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"

	"github.com/crucible-net/crucible/crucible"
)

// Exit statuses of crucible_torch.
const (
	ExitInvalid   = 2 // bad input: arguments, model directory, token file
	ExitResources = 3 // out of memory, CUDA errors, a missing package
	ExitDeadline  = 4 // no time left to train
)

// Kind is the evaluator kind crucible_torch's losses are recorded under.
const Kind = "torch"

// EvalSpec names what to evaluate.
type EvalSpec struct {
	BaseDir    string  // the base model
	ModelDir   string  // the submission (full model or PEFT adapter); empty evaluates the base
	TokensPath string  // the test split as a token file written for the base's tokenizer
	Beta       float64 // DPO temperature; 0 is 0.1
	// Device is auto (a GPU when there is one), cpu, cuda or cuda:N.
	Device string
	// Engine is auto (transformers when importable), compact or transformers.
	Engine string
	// Threads caps the CPU threads; 0 leaves PyTorch's default.
	Threads int
	// Progress, when set, receives crucible_torch's progress lines.
	Progress func(line string)
}

// Identity says which evaluator computed a loss.
type Identity struct {
	Kind          string  `json:"kind"`
	CrucibleTorch string  `json:"crucible_torch"`
	Torch         string  `json:"torch"`
	CUDA          *string `json:"cuda"`
	Device        string  `json:"device"`
	Engine        string  `json:"engine"`
}

// String is the identity on one line, as the results log records it.
func (id Identity) String() string {
	s := fmt.Sprintf("crucible_torch %s, torch %s", id.CrucibleTorch, id.Torch)
	if id.CUDA != nil {
		s += ", CUDA " + *id.CUDA
	}
	return s + ", " + id.Device + ", " + id.Engine
}

// EvalResult is crucible_torch eval's answer: the fields of crucible's own
// evaluator's result.
type EvalResult struct {
	Loss           float64   `json:"loss"`
	Tokens         int       `json:"tokens"`
	Samples        int       `json:"samples"`
	Failure        string    `json:"failure"`
	IsAdapter      bool      `json:"is_adapter"`
	Fingerprint    []float32 `json:"fingerprint"`
	SampleMean     float64   `json:"sample_mean"`
	Perplexity     float64   `json:"perplexity"`
	RewardAccuracy float64   `json:"reward_accuracy"`
	Margin         float64   `json:"reward_margin"`
	Evaluator      Identity  `json:"evaluator"`
	Seconds        float64   `json:"seconds"`
	PeakMemory     int64     `json:"peak_memory"`
}

// EvalArgv is the command line of an evaluation.
func (r *Runtime) EvalArgv(spec EvalSpec) []string {
	argv := []string{r.Python, "-m", "crucible_torch", "eval", "--base", spec.BaseDir, "--tokens", spec.TokensPath}
	if spec.ModelDir != "" {
		argv = append(argv, "--model", spec.ModelDir)
	}
	if spec.Beta > 0 {
		argv = append(argv, "--beta", strconv.FormatFloat(spec.Beta, 'g', -1, 64))
	}
	if spec.Device != "" {
		argv = append(argv, "--device", spec.Device)
	}
	if spec.Engine != "" {
		argv = append(argv, "--engine", spec.Engine)
	}
	if spec.Threads > 0 {
		argv = append(argv, "--threads", strconv.Itoa(spec.Threads))
	}
	return argv
}

// Evaluate runs the validator's metric in a PyTorch process. A submission
// that is not a valid fine-tune gives a result with Failure set (as
// crucible's evaluator words it). Errors: EINVALID for bad input (the base,
// the token file), EINTERNAL for a lack of resources (out of memory, CUDA)
// or a crash, each with the process's last lines; ctx's error when it ends.
func (r *Runtime) Evaluate(ctx context.Context, spec EvalSpec) (*EvalResult, error) {
	argv := r.EvalArgv(spec)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = r.Env()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "crucible_torch eval")
	}
	if err := cmd.Start(); err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "start crucible_torch eval")
	}
	var log bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		collect(stderr, &log, spec.Progress)
	}()
	wg.Wait()
	err = cmd.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, ProcessError("crucible_torch eval", err, log.String())
	}
	var res EvalResult
	var raw struct {
		Loss *float64 `json:"loss"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return nil, crucible.Errorf(crucible.EINTERNAL, "crucible_torch eval printed what is not its result (%v): %s", err, Tail(stdout.String(), 3, 400))
	}
	if json.Unmarshal(stdout.Bytes(), &raw) == nil && raw.Loss == nil && res.Failure == "" {
		return nil, crucible.Errorf(crucible.EINTERNAL, "crucible_torch eval gave no loss: %s", Tail(stdout.String(), 3, 400))
	}
	if res.Evaluator.Kind != Kind {
		return nil, crucible.Errorf(crucible.EINTERNAL, "crucible_torch eval did not say which evaluator it is")
	}
	return &res, nil
}

// collect copies a process's stderr into log and hands each line to progress.
func collect(r io.Reader, log *bytes.Buffer, progress func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if log.Len() < 1<<20 {
			log.WriteString(line + "\n")
		} else {
			// Keep the start and, rolling, the end: the last lines say why.
			b := log.Bytes()
			keep := append([]byte(nil), b[len(b)-(256<<10):]...)
			log.Truncate(512 << 10)
			log.Write(keep)
			log.WriteString(line + "\n")
		}
		if progress != nil {
			progress(line)
		}
	}
	io.Copy(io.Discard, r)
}

// ProcessError turns a crucible_torch process's failure into a crucible
// error carrying its last lines: EINVALID for bad input, EINTERNAL (with a
// hint) for a lack of resources or a crash.
func ProcessError(what string, err error, log string) error {
	tail := Tail(log, 12, 2000)
	status := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitCode()
	}
	msg := fmt.Sprintf("%s failed (%v)", what, err)
	if tail != "" {
		msg += ": " + tail
	}
	switch status {
	case ExitInvalid:
		return crucible.Errorf(crucible.EINVALID, "%s", msg)
	case ExitResources:
		e := crucible.Errorf(crucible.EINTERNAL, "%s", msg)
		if strings.Contains(strings.ToLower(tail), "out of memory") {
			return e.WithHint("the model does not fit: use a GPU with more memory or fewer tokens per batch")
		}
		return e.WithHint("check the GPU, its driver and the PyTorch build (python3 -m crucible_torch info)")
	}
	return crucible.Errorf(crucible.EINTERNAL, "%s", msg)
}
