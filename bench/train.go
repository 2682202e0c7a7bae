package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
)

// trainBenchConfig is one model shape and batch the training benchmark runs.
type trainBenchConfig struct {
	name  string
	cfg   model.Config
	b, t  int
	modes []string // modes run by default
}

func trainBenchConfigs() []trainBenchConfig {
	llama := model.NewLlamaConfig(384, 1536, 6, 6, 2, 49152, 2048)
	llama.TieEmbeddings = true
	all := []string{"full", "lora", "eval"}
	out := []trainBenchConfig{
		{"gpt2-5m", model.NewGPT2Config(256, 4, 4, 8192, 1024), 8, 128, all},
		{"gpt2-30m", model.NewGPT2Config(384, 6, 6, 50257, 1024), 4, 256, all},
		{"llama-30m", llama, 4, 256, all},
		{"gpt2-124m", model.NewGPT2Config(768, 12, 12, 50257, 1024), 4, 64, all},
		{"gpt2-124m-t256", model.NewGPT2Config(768, 12, 12, 50257, 1024), 4, 256, []string{"full", "eval"}},
	}
	// The real shapes of checkpoints people fine-tune (random weights: the
	// speed and memory do not depend on them), one sequence of 512 tokens.
	for _, r := range []struct{ name, ref string }{
		{"qwen2.5-0.5b", "Qwen2.5-0.5B"}, {"qwen3-0.6b", "Qwen3-0.6B"},
		{"gemma-3-1b", "gemma-3-1b"}, {"smollm2-360m", "SmolLM2-360M"},
	} {
		c, err := model.ReferenceConfig(r.ref)
		if err != nil {
			panic(err) // the configs are embedded and tested
		}
		out = append(out, trainBenchConfig{r.name, c, 1, 512, []string{"lora", "eval"}})
	}
	return out
}

// trainBenchRow is one measurement.
type trainBenchRow struct {
	Config       string  `json:"config"`
	Mode         string  `json:"mode"`
	Precision    string  `json:"precision"`
	TokensPerS   float64 `json:"tokens_per_s"`
	MFU          float64 `json:"mfu"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// RSSBytes is the resident memory after the timed steps, once the Go
	// runtime has returned what it no longer uses (setup transients, such
	// as a float32 base before it is held in bf16, are gone from it).
	RSSBytes   int64   `json:"rss_bytes"`
	Params     int     `json:"params"`
	Batch      int     `json:"batch"`
	Seq        int     `json:"seq"`
	Steps      int     `json:"steps"`
	StepMS     float64 `json:"step_ms"`
	GFLOPS     float64 `json:"gflops"`
	PeakGFLOPS float64 `json:"peak_gflops"`
	// CPUUtil is the CPU time the process got during the timed steps over
	// wall time × GOMAXPROCS; MFUCPU is the MFU over that CPU time (the
	// FMA peak likewise normalized), which stays meaningful on a machine
	// shared with other work but overstates where the trainer itself idles.
	CPUUtil    float64 `json:"cpu_util"`
	MFUCPU     float64 `json:"mfu_cpu"`
	PeakSource string  `json:"peak_source"`
	// MFUBF16 is the MFU against the CPU's bf16 peak (AMX-BF16 or
	// AVX512_BF16, measured like the FP32 one), where it has one.
	MFUBF16        float64 `json:"mfu_bf16,omitempty"`
	PeakBF16GFLOPS float64 `json:"peak_bf16_gflops,omitempty"`
	PeakBF16Source string  `json:"peak_bf16_source,omitempty"`
}

func TrainNames() []string {
	var names []string
	for _, c := range trainBenchConfigs() {
		names = append(names, c.name)
	}
	return names
}

func findTrainBench(name string) (trainBenchConfig, error) {
	for _, c := range trainBenchConfigs() {
		if c.name == name {
			return c, nil
		}
	}
	return trainBenchConfig{}, fmt.Errorf("bench train: unknown config %q (have %s)", name, strings.Join(TrainNames(), ", "))
}

// trainPeak measures the CPU's FP32 peak: the best FMA loop the CPU has,
// or GEMM at 1024³ (a lower bound) where no FMA loop is available.
type trainPeak struct {
	isa    string // "" when falling back to GEMM
	source string
}

func newTrainPeak() trainPeak {
	return bestTrainPeak(kernel.PeakISAs(), trainPeak{source: "GEMM 1024³ (lower bound: no FMA loop for this CPU)"})
}

// newTrainPeakBF16 is the CPU's bf16 peak (AMX-BF16 or AVX512_BF16), or
// a zero trainPeak where it has no bf16 instructions.
func newTrainPeakBF16() trainPeak { return bestTrainPeak(kernel.PeakISAsBF16(), trainPeak{}) }

// bestTrainPeak picks the fastest of isas by a short measurement.
func bestTrainPeak(isas []string, fallback trainPeak) trainPeak {
	threads := runtime.GOMAXPROCS(0)
	best, p := 0.0, fallback
	for _, isa := range isas {
		g, err := kernel.MeasurePeak(isa, threads, 50*time.Millisecond, 3)
		if err == nil && g > best {
			best, p = g, trainPeak{isa: isa, source: fmt.Sprintf("%s loop, %d threads", isa, threads)}
		}
	}
	return p
}

// measure returns the peak in GFLOP/s over about d, and the share of the
// cores the process got meanwhile (0 when unknown).
func (p trainPeak) measure(d time.Duration) (gflops, cpuShare float64, err error) {
	threads := runtime.GOMAXPROCS(0)
	c0, t0 := cpuSeconds(), time.Now()
	if p.isa != "" {
		gflops, err = kernel.MeasurePeak(p.isa, threads, d, 1)
	} else {
		const n = 1024
		a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
		t1 := time.Now()
		err = kernel.MatMul(n, n, n, a, b, c)
		gflops = 2 * n * n * n / time.Since(t1).Seconds() / 1e9
	}
	if c0 > 0 {
		cpuShare = (cpuSeconds() - c0) / time.Since(t0).Seconds() / float64(threads)
	}
	return gflops, cpuShare, err
}

func medianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// runTrainBench runs each (config, mode) in a child process.
func runTrainBench(out, errOut io.Writer, configs, modes []string, steps int, prec kernel.Precision, asJSON bool) error {
	if len(configs) == 0 {
		configs = TrainNames()
	}
	for _, m := range modes {
		if m != "full" && m != "lora" && m != "eval" {
			return fmt.Errorf("bench train: --mode %q: want full, lora or eval", m)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench train: %w", err)
	}
	var rows []trainBenchRow
	for _, name := range configs {
		bc, err := findTrainBench(name)
		if err != nil {
			return err
		}
		ms := bc.modes
		if len(modes) > 0 {
			ms = modes
		}
		for _, mode := range ms {
			args := []string{"bench", "train", "--one", name, "--mode", mode, "--steps", strconv.Itoa(steps), "--precision", prec.String()}
			child := exec.Command(exe, args...)
			var stdout bytes.Buffer
			child.Stdout, child.Stderr = &stdout, errOut
			if err := child.Run(); err != nil {
				return fmt.Errorf("bench train: %s %s: %w", name, mode, err)
			}
			var row trainBenchRow
			if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &row); err != nil {
				return fmt.Errorf("bench train: %s %s: reading the child's row: %w", name, mode, err)
			}
			rows = append(rows, row)
			if asJSON {
				if err := json.NewEncoder(out).Encode(row); err != nil {
					return fmt.Errorf("bench train: write: %w", err)
				}
			}
		}
	}
	if asJSON {
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "config\tmode\tprecision\tparams\tB×T\ttokens/s\tstep ms\tGFLOP/s\tMFU fp32\tMFU bf16\tCPU util\tMFU/CPU\tpeak RSS\tRSS after\t\n")
	for _, r := range rows {
		mfu16 := "-"
		if r.MFUBF16 > 0 {
			mfu16 = fmt.Sprintf("%.1f%%", 100*r.MFUBF16)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fM\t%d×%d\t%.0f\t%.0f\t%.1f\t%.1f%%\t%s\t%.0f%%\t%.1f%%\t%.0f MiB\t%.0f MiB\t\n", r.Config, r.Mode, r.Precision, float64(r.Params)/1e6,
			r.Batch, r.Seq, r.TokensPerS, r.StepMS, r.GFLOPS, 100*r.MFU, mfu16, 100*r.CPUUtil, 100*r.MFUCPU, float64(r.PeakRSSBytes)/(1<<20), float64(r.RSSBytes)/(1<<20))
	}
	tw.Flush()
	if len(rows) > 0 {
		last := rows[len(rows)-1]
		fmt.Fprintf(out, "FP32 peak %.1f GFLOP/s (%s; per row: peak_gflops in --json), GOMAXPROCS %d\n",
			last.PeakGFLOPS, last.PeakSource, runtime.GOMAXPROCS(0))
		if last.PeakBF16GFLOPS > 0 {
			fmt.Fprintf(out, "bf16 peak %.1f GFLOP/s (%s; per row: peak_bf16_gflops in --json)\n", last.PeakBF16GFLOPS, last.PeakBF16Source)
		}
	}
	printTrainTargets(out, trainTargets(rows))
	return nil
}

// runTrainBenchOne builds the model, takes one warm-up step (allocating the
// workspace and optimizer state) and times steps more.
func runTrainBenchOne(name, mode string, steps int, prec kernel.Precision) (trainBenchRow, error) {
	bc, err := findTrainBench(name)
	if err != nil {
		return trainBenchRow{}, err
	}
	newModel := model.New
	if mode == "lora" {
		// The frozen base as crucible train holds a bf16 checkpoint: in
		// bf16 only (the random weights rounded).
		newModel = model.NewBF16
	}
	m, err := newModel(bc.cfg, 1)
	if err != nil {
		return trainBenchRow{}, fmt.Errorf("bench train: %w", err)
	}
	m.SetPrecision(prec)
	c := m.Config()
	loraParams := 0
	switch mode {
	case "full":
		m.SetTrainBase(true)
	case "lora":
		l, err := m.AddLoRA(model.LoRAConfig{Rank: 16, Alpha: 32, TargetModules: model.DefaultLoRATargets(c), Seed: 1})
		if err != nil {
			return trainBenchRow{}, fmt.Errorf("bench train: %w", err)
		}
		loraParams = len(l.Params())
	case "eval":
	default:
		return trainBenchRow{}, fmt.Errorf("bench train: --mode %q: want full, lora or eval", mode)
	}
	params := m.TrainableParams()
	ocfg := optim.DefaultAdamW()
	ocfg.BF16State = prec == kernel.BF16 // as crucible train does
	opt := optim.NewAdamW(params, ocfg)
	rng := rand.New(rand.NewPCG(1, 2))
	batch := model.Batch{B: bc.b, T: bc.t, Tokens: make([]int32, bc.b*bc.t), Labels: make([]int32, bc.b*bc.t)}
	for i := range batch.Tokens {
		batch.Tokens[i] = int32(rng.IntN(c.Vocab))
		batch.Labels[i] = int32(rng.IntN(c.Vocab))
	}
	step := func() error {
		if mode == "eval" {
			_, err := m.Evaluate(batch, nil, nil)
			return err
		}
		m.ZeroGrads()
		if _, err := m.ForwardBackward(batch, 0); err != nil {
			return err
		}
		opt.StepScaled(1e-4, optim.ClipScale(optim.GradNorm(params), 1))
		return nil
	}
	if err := step(); err != nil {
		return trainBenchRow{}, fmt.Errorf("bench train: %w", err)
	}
	// Each timed step is paired with a short FMA-peak measurement right
	// after it, and MFU is the median over the pairs: on a machine shared
	// with other work, a step and its peak see about the same load.
	peak, peak16 := newTrainPeak(), newTrainPeakBF16()
	matmul := float64(c.ActiveMatmulParams())
	attn := float64(c.Layers * c.Heads * c.HeadDim * bc.t)
	perToken := 6*matmul + 12*attn
	switch mode {
	case "lora":
		perToken = 4*matmul + 12*attn + 6*float64(loraParams)
	case "eval":
		perToken = 2*matmul + 4*attn
	}
	stepFlops := perToken * float64(bc.b*bc.t)
	var mfus, mfuCPUs, peaks, utils, times, mfus16, peaks16 []float64
	for range steps {
		c0, t0 := cpuSeconds(), time.Now()
		if err := step(); err != nil {
			return trainBenchRow{}, fmt.Errorf("bench train: %w", err)
		}
		el := time.Since(t0).Seconds()
		util := (cpuSeconds() - c0) / el / float64(runtime.GOMAXPROCS(0))
		times = append(times, el)
		p, share, err := peak.measure(200 * time.Millisecond) // long enough for 10 ms CPU-time ticks
		if err != nil {
			return trainBenchRow{}, fmt.Errorf("bench train: measure peak: %w", err)
		}
		peaks = append(peaks, p)
		mfus = append(mfus, stepFlops/el/1e9/p)
		if c0 > 0 && share > 0 && util > 0 {
			utils = append(utils, util)
			mfuCPUs = append(mfuCPUs, (stepFlops/el/1e9/util)/(p/share))
		}
		if peak16.isa != "" {
			p16, _, err := peak16.measure(100 * time.Millisecond)
			if err != nil {
				return trainBenchRow{}, fmt.Errorf("bench train: measure bf16 peak: %w", err)
			}
			peaks16 = append(peaks16, p16)
			mfus16 = append(mfus16, stepFlops/el/1e9/p16)
		}
	}
	stepTime := medianOf(times)
	row := trainBenchRow{
		Config: name, Mode: mode, TokensPerS: float64(bc.b*bc.t) / stepTime, PeakRSSBytes: peakRSS(), RSSBytes: steadyRSS(), Params: m.NumParams(),
		Batch: bc.b, Seq: bc.t, Steps: steps, StepMS: 1000 * stepTime, GFLOPS: stepFlops / stepTime / 1e9,
		PeakGFLOPS: medianOf(peaks), PeakSource: peak.source, MFU: medianOf(mfus),
		CPUUtil: medianOf(utils), MFUCPU: medianOf(mfuCPUs), Precision: prec.String(),
		MFUBF16: medianOf(mfus16), PeakBF16GFLOPS: medianOf(peaks16), PeakBF16Source: peak16.source,
	}
	return row, nil
}

// cpuSeconds returns the user+system CPU time of this process from
// /proc/self/stat (in clock ticks of 1/100 s, Linux's USER_HZ), or 0 where
// it cannot be read.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may contain spaces
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return float64(ut+st) / 100
}

// peakRSS returns the process's peak resident set size (VmHWM), or 0 where
// /proc is not available.
func peakRSS() int64 { return procStatus("VmHWM:") }

// steadyRSS returns the resident set size (VmRSS) once the Go runtime has
// given back the memory it no longer uses, or 0 where /proc is missing.
func steadyRSS() int64 {
	debug.FreeOSMemory()
	return procStatus("VmRSS:")
}

// procStatus reads a size field of /proc/self/status in bytes.
func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			fields := strings.Fields(rest)
			if len(fields) >= 1 {
				kb, _ := strconv.ParseInt(fields[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// TrainConfig configures "crucible bench train". Each field's doc comment
// is its documentation and states its default (package config).
type TrainConfig struct {
	// JSON prints one JSON object per row.
	JSON bool `flag:"json"`
	// Configs is the configs to run; empty means all.
	Configs []string `flag:"configs"`
	// Modes is the modes to run: "full", "lora", "eval"; empty means each
	// config's modes (all three, or lora and eval on the real-size configs).
	Modes []string `flag:"mode"`
	// Steps is the timed training steps per row (after one warm-up step).
	// Defaults to `5`.
	Steps int `flag:"steps"`
	// Precision is the arithmetic of the matrix products: auto, fp32 or
	// bf16. Defaults to `auto`.
	Precision string `flag:"precision"`
	// One runs one config in this process and prints its row as JSON (used
	// by the parent run).
	One string `flag:"one"`
}

// Train runs the training benchmark as cfg says, each config in a child
// process of this binary, and writes its table (or JSON lines) to out and
// progress to logw.
func Train(cfg TrainConfig, out, logw io.Writer) error {
	if cfg.Steps < 1 {
		return fmt.Errorf("bench train: --steps must be ≥ 1, got %d", cfg.Steps)
	}
	p, err := kernel.ParsePrecision(cfg.Precision)
	if err != nil {
		return fmt.Errorf("bench train: --precision: %w", err)
	}
	if cfg.One != "" {
		if len(cfg.Modes) != 1 {
			return fmt.Errorf("bench train: --one needs exactly one --mode")
		}
		row, err := runTrainBenchOne(cfg.One, cfg.Modes[0], cfg.Steps, p)
		if err != nil {
			return err
		}
		return json.NewEncoder(out).Encode(row)
	}
	return runTrainBench(out, logw, cfg.Configs, cfg.Modes, cfg.Steps, p, cfg.JSON)
}
