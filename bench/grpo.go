package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/train"
)

// grpoBenchRow is the GRPO measurement of the fine-tuning benchmark.
type grpoBenchRow struct {
	Mode             string  `json:"mode"` // "grpo"
	Steps            int     `json:"steps"`
	Generations      int     `json:"generations"`       // G, completions per prompt (the generation batch)
	PromptsPerStep   int     `json:"prompts_per_step"`  //
	PromptTokens     int     `json:"prompt_tokens"`     // per prompt
	CompletionTokens int     `json:"completion_tokens"` // per completion
	PromptsPerS      float64 `json:"prompts_per_s"`
	// SampleTokensPerS is tokens generated per second of GRPO's sampling
	// phase; GenerateTokensPerS the same model's batched generation
	// (crucible generate --samples G) on the same prompts, measured in
	// the same run; SampleShare their ratio.
	SampleTokensPerS   float64 `json:"sample_tokens_per_s"`
	GenerateTokensPerS float64 `json:"generate_tokens_per_s"`
	SampleShare        float64 `json:"sample_share"`
	// GenerateOneTokensPerS is generation one completion at a time.
	GenerateOneTokensPerS float64 `json:"generate_one_tokens_per_s"`
	// The same rates per CPU second: comparable on a loaded machine.
	SampleTokensPerCPUS      float64 `json:"sample_tokens_per_cpu_s"`
	GenerateTokensPerCPUS    float64 `json:"generate_tokens_per_cpu_s"`
	GenerateOneTokensPerCPUS float64 `json:"generate_one_tokens_per_cpu_s"`
	// The step's time split, in seconds per step.
	SamplingS float64 `json:"sampling_s"`
	RewardS   float64 `json:"reward_s"`
	BackwardS float64 `json:"backward_s"`
	Params    int     `json:"params"`
	Threads   int     `json:"threads"`
}

// runGRPOBench trains the benchmark model by GRPO (full fine-tuning, KL
// penalty on) for a few steps on random prompts with a cheap reward, and
// measures batched generation of the same shapes outside training.
func runGRPOBench(ctx context.Context, steps, prompts, gens, promptLen, completion int) (*grpoBenchRow, error) {
	cfg := finetuneBenchConfig()
	rng := rand.New(rand.NewPCG(7, 7))
	ps := make([][]int32, steps*prompts)
	for i := range ps {
		p := make([]int32, promptLen)
		for j := range p {
			p[j] = int32(rng.IntN(cfg.Vocab))
		}
		ps[i] = p
	}
	// The reward: the share of even tokens, so that groups differ.
	reward := func(_ context.Context, _ int, comps [][]int32) ([]eval.RewardScore, error) {
		out := make([]eval.RewardScore, len(comps))
		for i, c := range comps {
			even := 0
			for _, t := range c {
				if t%2 == 0 {
					even++
				}
			}
			v := float64(even) / float64(max(1, len(c)))
			out[i] = eval.RewardScore{Total: v, Parts: []float64{v}}
		}
		return out, nil
	}
	m, err := model.New(cfg, 1)
	if err != nil {
		return nil, err
	}
	m.SetTrainBase(true)
	res, err := train.RunGRPO(ctx, m, train.GRPOData{Prompts: ps}, train.GRPOConfig{
		Config: train.Config{LR: 1e-5, MaxSteps: steps, BatchSize: prompts, ValSize: -1, Seed: 1},
		Reward: reward, Generations: gens, MaxCompletion: completion, StopTokens: []int32{},
	})
	if err != nil {
		return nil, fmt.Errorf("bench finetune grpo: %w", err)
	}
	// Batched generation of the same groups, outside training, after a
	// warm-up group.
	gm, err := model.New(cfg, 1)
	if err != nil {
		return nil, err
	}
	opts := model.GenerateOptions{MaxNewTokens: completion, Temperature: 1, TopP: 1, StopTokens: []int32{}, Seed: 1}
	if _, err := gm.GenerateGroup(ps[0], gens, opts); err != nil {
		return nil, err
	}
	var tokens int
	t0, c0 := time.Now(), cpuSeconds()
	for _, p := range ps {
		out, err := gm.GenerateGroup(p, gens, opts)
		if err != nil {
			return nil, err
		}
		for _, c := range out {
			tokens += len(c)
		}
	}
	genTPS := float64(tokens) / time.Since(t0).Seconds()
	genCPU := perCPU(int64(tokens), cpuSeconds()-c0)
	// One completion at a time (crucible generate without --samples).
	tokens = 0
	t0, c0 = time.Now(), cpuSeconds()
	for _, p := range ps[:max(1, len(ps)/4)] {
		out, err := gm.Generate(p, opts, nil)
		if err != nil {
			return nil, err
		}
		tokens += len(out)
	}
	oneTPS := float64(tokens) / time.Since(t0).Seconds()
	oneCPU := perCPU(int64(tokens), cpuSeconds()-c0)
	n := float64(max(1, res.Steps))
	row := &grpoBenchRow{Mode: "grpo", Steps: res.Steps, Generations: gens, PromptsPerStep: prompts, PromptTokens: promptLen, CompletionTokens: completion,
		PromptsPerS: res.PromptsPerS, SampleTokensPerS: res.SampleTokensPerS, GenerateTokensPerS: genTPS, SampleShare: res.SampleTokensPerS / genTPS, GenerateOneTokensPerS: oneTPS,
		SampleTokensPerCPUS: res.SampleTokensPerCPUS, GenerateTokensPerCPUS: genCPU, GenerateOneTokensPerCPUS: oneCPU,
		SamplingS: res.Cost.Sampling.Seconds() / n, RewardS: res.Cost.Reward.Seconds() / n, BackwardS: res.Cost.Backward.Seconds() / n,
		Params: m.NumParams(), Threads: runtime.GOMAXPROCS(0)}
	return row, nil
}

func printGRPOBench(w io.Writer, r *grpoBenchRow) {
	total := r.SamplingS + r.RewardS + r.BackwardS
	fmt.Fprintf(w, "grpo (full, G=%d, %d prompts/step, prompt %d + completion %d tokens, %d steps): %.2f prompts/s, %.0f tokens generated/s\n",
		r.Generations, r.PromptsPerStep, r.PromptTokens, r.CompletionTokens, r.Steps, r.PromptsPerS, r.SampleTokensPerS)
	fmt.Fprintf(w, "  generation inside grpo vs batched generate (G=%d) of the same model: %.0f vs %.0f tokens/s = %.0f%%\n",
		r.Generations, r.SampleTokensPerS, r.GenerateTokensPerS, 100*r.SampleShare)
	if r.GenerateTokensPerCPUS > 0 {
		fmt.Fprintf(w, "  per CPU second: %.0f vs %.0f tokens = %.0f%%\n", r.SampleTokensPerCPUS, r.GenerateTokensPerCPUS, 100*r.SampleTokensPerCPUS/r.GenerateTokensPerCPUS)
	}
	fmt.Fprintf(w, "  (one completion at a time: %.0f tokens/s, %.0f per CPU second; the batch of %d is %.1f× that per CPU second)\n",
		r.GenerateOneTokensPerS, r.GenerateOneTokensPerCPUS, r.Generations, r.GenerateTokensPerCPUS/max(r.GenerateOneTokensPerCPUS, 1e-9))
	fmt.Fprintf(w, "  step cost %.3fs: sampling %.3fs (%.0f%%), reward %.4fs (%.1f%%), backward incl. reference pass %.3fs (%.0f%%)\n",
		total, r.SamplingS, 100*r.SamplingS/total, r.RewardS, 100*r.RewardS/total, r.BackwardS, 100*r.BackwardS/total)
}
