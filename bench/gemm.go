package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/kernel/openblas"
)

// gemmBenchRow is one measurement: a variant on one shape and transpose form.
type gemmBenchRow struct {
	Variant    string  `json:"variant"`
	Op         string  `json:"op"`
	M          int     `json:"m"`
	N          int     `json:"n"`
	K          int     `json:"k"`
	Threads    int     `json:"threads"`
	GFLOPS     float64 `json:"gflops"`
	PeakGFLOPS float64 `json:"peak_gflops"`
	// CPUGFLOPS and CPUPeakGFLOPS are the same figures per CPU-second of
	// this process times threads: the speed while the cores run crucible,
	// steadier than wall-clock time when others share the machine.
	CPUGFLOPS     float64 `json:"cpu_gflops,omitempty"`
	CPUPeakGFLOPS float64 `json:"cpu_peak_gflops,omitempty"`
	// VsOpenBLAS is gflops divided by OpenBLAS's on the same row, when the
	// openblas variant ran.
	VsOpenBLAS float64 `json:"vs_openblas,omitempty"`
}

// gemmBenchCase is one shape and transpose form: "NN" is C = A·B, "NT" is
// A·Bᵀ (a linear layer's forward with HF-layout weights, and its input
// gradient's transpose), "TN" is Aᵀ·B (a weight gradient).
type gemmBenchCase struct {
	op      string
	m, n, k int
}

func gemmBenchCases() []gemmBenchCase {
	large := [][3]int{{1024, 1024, 1024}, {4096, 2048, 512}, {4096, 512, 2048}, {512, 2048, 4096}, {4096, 8192, 512}}
	var cs []gemmBenchCase
	for _, op := range []string{"NN", "NT", "TN"} {
		for _, s := range large {
			cs = append(cs, gemmBenchCase{op, s[0], s[1], s[2]})
		}
	}
	return append(cs, gemmBenchCase{"NN", 256, 256, 256}, gemmBenchCase{"NN", 64, 64, 64})
}

// GemmConfig configures "crucible bench gemm". Each field's doc comment is
// its documentation and states its default (package config).
type GemmConfig struct {
	// JSON prints one JSON object per row.
	JSON bool `flag:"json"`
	// Threads is the threads (GOMAXPROCS) to run on; 0 means GOMAXPROCS.
	Threads int `flag:"threads"`
	// Variant is the variant to run: a kernel variant, "auto", "bf16",
	// "bf16-<variant>", "bf16b" or "all"; empty means the assembly
	// variants, bf16 ones included, and openblas.
	Variant string `flag:"variant"`
	// Reps is the measurements per row; the median is reported. Defaults
	// to `5`.
	Reps int `flag:"reps"`
	// BF16 also measures the bf16 variants (bf16-go too).
	BF16 bool `flag:"bf16"`
}

// Gemm runs the matrix-multiply benchmark as cfg says and writes its table
// (or JSON lines) to out.
func Gemm(cfg GemmConfig, out io.Writer) error {
	if cfg.Threads == 0 {
		cfg.Threads = runtime.GOMAXPROCS(0)
	}
	if cfg.Threads < 1 {
		return fmt.Errorf("bench gemm: --threads must be ≥ 1, got %d", cfg.Threads)
	}
	if cfg.Reps < 1 {
		return fmt.Errorf("bench gemm: --reps must be ≥ 1, got %d", cfg.Reps)
	}
	names, err := gemmBenchVariants(cfg.Variant)
	if err != nil {
		return err
	}
	if cfg.BF16 {
		for _, v := range bf16BenchVariants(false) {
			if !slices.Contains(names, v) {
				names = append(names, v)
			}
		}
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.Threads))
	rows, peaks, err := runGemmBench(names, cfg.Threads, cfg.Reps)
	if err != nil {
		return err
	}
	if cfg.JSON {
		enc := json.NewEncoder(out)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("bench gemm: write: %w", err)
			}
		}
		return nil
	}
	return printGemmBench(out, rows, peaks, cfg.Threads)
}

// bf16BenchVariants names the bf16 rows: one per bf16 kernel variant
// ("bf16-go", the portable emulation, only with withGo).
func bf16BenchVariants(withGo bool) []string {
	var out []string
	for _, v := range kernel.BF16Variants() {
		if v != "go" || withGo {
			out = append(out, "bf16-"+v)
		}
	}
	return out
}

func gemmBenchVariants(want string) ([]string, error) {
	all := kernel.Variants()
	switch want {
	case "all":
		return append(slices.Clone(all), bf16BenchVariants(true)...), nil
	case "":
		return append(slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == "go" }), bf16BenchVariants(false)...), nil
	case "auto", "bf16b":
		return []string{want}, nil
	case "bf16":
		return bf16BenchVariants(!kernel.HasBF16()), nil
	}
	if slices.Contains(bf16BenchVariants(true), want) {
		return []string{want}, nil
	}
	if !slices.Contains(all, want) {
		hint := ""
		if want == "openblas" && !openblas.Available {
			hint = " (build with -tags openblas and libopenblas-dev for it)"
		}
		return nil, fmt.Errorf("bench gemm: --variant %q is not available; have %s, auto, bf16, %s, bf16b%s", want, strings.Join(all, ", "), strings.Join(bf16BenchVariants(true), ", "), hint)
	}
	return []string{want}, nil
}

// peakFor returns the peak a variant is measured against: its own
// instruction set's, or the best FP32 one (the best bf16 one for bf16
// variants) for variants without one.
func peakFor(variant string, peaks map[string]kernel.Peak) kernel.Peak {
	isa := variant
	switch variant {
	case "bf16-amx":
		isa = "amx-bf16"
	case "bf16-avx512bf16":
		isa = "avx512-bf16"
	}
	if p, ok := peaks[isa]; ok {
		return p
	}
	family := kernel.PeakISAs()
	if strings.HasPrefix(variant, "bf16-") {
		family = kernel.PeakISAsBF16()
	}
	var best kernel.Peak
	for _, name := range family {
		if p := peaks[name]; p.GFLOPS > best.GFLOPS {
			best = p
		}
	}
	return best
}

// runGemmBench measures every case. The machine may be shared, so within a
// case the variants and the FMA peak loops take turns, one measurement each
// per round, and each figure is the median over the rounds: a burst of
// outside load then hits all of them alike and the ratios stay fair.
func runGemmBench(names []string, threads, reps int) ([]gemmBenchRow, map[string]kernel.Peak, error) {
	isas := kernel.PeakISAs()
	if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "bf16-") }) {
		isas = append(isas, kernel.PeakISAsBF16()...)
	}
	allPeaks := map[string][]kernel.Peak{}
	rng := rand.New(rand.NewPCG(1, 1))
	var rows []gemmBenchRow
	for _, bc := range gemmBenchCases() {
		a := benchMatrix(rng, bc.m*bc.k)
		b := benchMatrix(rng, bc.k*bc.n)
		c := make([]float32, bc.m*bc.n)
		lda, ldb := bc.k, bc.n
		transA, transB := bc.op[0] == 'T', bc.op[1] == 'T'
		if transA {
			lda = bc.m
		}
		if transB {
			ldb = bc.k
		}
		var bbf []uint16
		if slices.Contains(names, "bf16b") {
			bbf = make([]uint16, len(b))
			for i, x := range b {
				bbf[i] = kernel.Float32ToBF16(x)
			}
		}
		calls := make([]func() error, len(names))
		batches := make([]int, len(names))
		for i, name := range names {
			calls[i] = func() error {
				if name == "bf16b" {
					return kernel.GemmBF16B(transA, transB, bc.m, bc.n, bc.k, 1, a, lda, bbf, ldb, 0, c, bc.n)
				}
				if v, ok := strings.CutPrefix(name, "bf16-"); ok {
					return kernel.GemmBF16Variant(v, transA, transB, bc.m, bc.n, bc.k, 1, kernel.MatF32(a), lda, kernel.MatF32(b), ldb, 0, c, bc.n)
				}
				return kernel.GemmVariant(name, transA, transB, bc.m, bc.n, bc.k, 1, a, lda, b, ldb, 0, c, bc.n)
			}
			var err error
			if batches[i], err = benchBatch(calls[i]); err != nil {
				return nil, nil, fmt.Errorf("bench gemm: %s %s %dx%dx%d: %w", name, bc.op, bc.m, bc.n, bc.k, err)
			}
		}
		secs := make([][]float64, len(names))
		cpuSecs := make([][]float64, len(names))
		peaks := make([][]kernel.Peak, len(isas))
		for range reps {
			for i := range names {
				t, cpu, err := timeBatch(calls[i], batches[i])
				if err != nil {
					return nil, nil, fmt.Errorf("bench gemm: %s %s %dx%dx%d: %w", names[i], bc.op, bc.m, bc.n, bc.k, err)
				}
				secs[i] = append(secs[i], t)
				cpuSecs[i] = append(cpuSecs[i], cpu)
			}
			for i, isa := range isas {
				p, err := kernel.MeasurePeakCPU(isa, threads, benchWindow, 1)
				if err != nil {
					return nil, nil, fmt.Errorf("bench gemm: %w", err)
				}
				peaks[i] = append(peaks[i], p)
				allPeaks[isa] = append(allPeaks[isa], p)
			}
		}
		casePeaks := map[string]kernel.Peak{}
		for i, isa := range isas {
			casePeaks[isa] = medianPeak(peaks[i])
		}
		first := len(rows)
		flops := 2 * float64(bc.m) * float64(bc.n) * float64(bc.k)
		for i, name := range names {
			peak := peakFor(name, casePeaks)
			row := gemmBenchRow{
				Variant: name, Op: bc.op, M: bc.m, N: bc.n, K: bc.k, Threads: threads,
				GFLOPS:     flops / median(secs[i]) / 1e9,
				PeakGFLOPS: peak.GFLOPS,
			}
			if cpu := median(cpuSecs[i]); cpu > 0 {
				row.CPUGFLOPS = flops / cpu * float64(threads) / 1e9
			}
			rows = append(rows, row)
		}
		for i := first; i < len(rows); i++ {
			for _, o := range rows[first:] {
				if o.Variant == "openblas" && rows[i].Variant != "openblas" {
					rows[i].VsOpenBLAS = rows[i].GFLOPS / o.GFLOPS
				}
			}
		}
	}
	overall := map[string]kernel.Peak{}
	for isa, ps := range allPeaks {
		overall[isa] = medianPeak(ps)
	}
	// CPU time is counted in scheduler ticks, too coarse for one round's
	// peak; the run's median is steady because CPU time ignores other load.
	for i := range rows {
		rows[i].CPUPeakGFLOPS = peakFor(rows[i].Variant, overall).CPUGFLOPS
	}
	return rows, overall, nil
}

// medianPeak takes the median of each figure separately.
func medianPeak(ps []kernel.Peak) kernel.Peak {
	wall := make([]float64, len(ps))
	cpu := make([]float64, len(ps))
	for i, p := range ps {
		wall[i], cpu[i] = p.GFLOPS, p.CPUGFLOPS
	}
	return kernel.Peak{GFLOPS: median(wall), CPUGFLOPS: median(cpu)}
}

// benchWindow is the shortest measurement: long enough for CPU time, which
// the kernel counts in scheduler ticks, to be accurate to a few percent.
const benchWindow = 50 * time.Millisecond

// benchBatch makes one warm-up call of f and returns how many calls make a
// measurement of at least benchWindow.
func benchBatch(f func() error) (int, error) {
	t0 := time.Now()
	if err := f(); err != nil {
		return 0, err
	}
	el := time.Since(t0)
	if el >= benchWindow {
		return 1, nil
	}
	return int(benchWindow/max(el, time.Microsecond)) + 1, nil
}

// timeBatch returns the mean wall-clock and process-CPU seconds per call
// over n calls of f (CPU 0 where the platform does not report it).
func timeBatch(f func() error, n int) (wall, cpu float64, err error) {
	c0, _ := kernel.ProcessCPUTime()
	t := time.Now()
	for range n {
		if err := f(); err != nil {
			return 0, 0, err
		}
	}
	wall = time.Since(t).Seconds() / float64(n)
	if c1, ok := kernel.ProcessCPUTime(); ok {
		cpu = (c1 - c0).Seconds() / float64(n)
	}
	return wall, cpu, nil
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	sort.Float64s(s)
	return s[len(s)/2]
}

func benchMatrix(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

func printGemmBench(w io.Writer, rows []gemmBenchRow, peaks map[string]kernel.Peak, threads int) error {
	for _, isa := range kernel.PeakISAs() {
		fmt.Fprintf(w, "FP32 FMA peak, %s, %d threads: %.1f GFLOP/s wall-clock, %.1f per CPU-second×threads (medians over the run)\n",
			isa, threads, peaks[isa].GFLOPS, peaks[isa].CPUGFLOPS)
	}
	for _, isa := range kernel.PeakISAsBF16() {
		if p, ok := peaks[isa]; ok {
			fmt.Fprintf(w, "bf16 peak, %s, %d threads: %.1f GFLOP/s wall-clock, %.1f per CPU-second×threads (medians over the run)\n",
				isa, threads, p.GFLOPS, p.CPUGFLOPS)
		}
	}
	fmt.Fprintln(w, `Each row's wall-clock peak is measured between its rounds; the "cpu" columns divide by this process's CPU time.`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\top\tm\tn\tk\tthreads\tGFLOP/s\tpeak\t% peak\tvs OpenBLAS\tcpu GFLOP/s\tcpu % peak\t")
	for _, r := range rows {
		vs := "-"
		if r.VsOpenBLAS > 0 {
			vs = fmt.Sprintf("%.2f", r.VsOpenBLAS)
		}
		cpuPct := "-"
		if r.CPUGFLOPS > 0 && r.CPUPeakGFLOPS > 0 {
			cpuPct = fmt.Sprintf("%.1f%%", 100*r.CPUGFLOPS/r.CPUPeakGFLOPS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f%%\t%s\t%.1f\t%s\t\n",
			r.Variant, r.Op, r.M, r.N, r.K, r.Threads, r.GFLOPS, r.PeakGFLOPS, 100*r.GFLOPS/r.PeakGFLOPS, vs, r.CPUGFLOPS, cpuPct)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("bench gemm: write: %w", err)
	}
	return printGemmSummary(w, rows)
}

// printGemmSummary prints, per variant, the medians over the large shapes
// (m·n·k ≥ 2³⁰) of the fraction of peak and of the ratio to OpenBLAS.
func printGemmSummary(w io.Writer, rows []gemmBenchRow) error {
	var order []string
	pct, cpuPct, vs, cpuVs := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	type caseKey struct {
		op      string
		m, n, k int
	}
	openblasCPU := map[caseKey]float64{}
	for _, r := range rows {
		if r.Variant == "openblas" {
			openblasCPU[caseKey{r.Op, r.M, r.N, r.K}] = r.CPUGFLOPS
		}
	}
	for _, r := range rows {
		if r.M*r.N*r.K < 1<<30 {
			continue
		}
		if _, ok := pct[r.Variant]; !ok {
			order = append(order, r.Variant)
		}
		pct[r.Variant] = append(pct[r.Variant], r.GFLOPS/r.PeakGFLOPS)
		if r.CPUPeakGFLOPS > 0 {
			cpuPct[r.Variant] = append(cpuPct[r.Variant], r.CPUGFLOPS/r.CPUPeakGFLOPS)
		}
		if r.VsOpenBLAS > 0 {
			vs[r.Variant] = append(vs[r.Variant], r.VsOpenBLAS)
		}
		if o := openblasCPU[caseKey{r.Op, r.M, r.N, r.K}]; o > 0 && r.Variant != "openblas" {
			cpuVs[r.Variant] = append(cpuVs[r.Variant], r.CPUGFLOPS/o)
		}
	}
	fmt.Fprintln(w, "Medians over the large shapes (m·n·k ≥ 2³⁰):")
	for _, v := range order {
		line := fmt.Sprintf("  %-15s %5.1f%% of peak", v, 100*median(pct[v]))
		if len(cpuPct[v]) > 0 {
			line += fmt.Sprintf(" (cpu %5.1f%%)", 100*median(cpuPct[v]))
		}
		if len(vs[v]) > 0 {
			line += fmt.Sprintf(", %.2f× OpenBLAS", median(vs[v]))
		}
		if len(cpuVs[v]) > 0 {
			line += fmt.Sprintf(" (cpu %.2f×)", median(cpuVs[v]))
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return fmt.Errorf("bench gemm: write: %w", err)
		}
	}
	return nil
}
