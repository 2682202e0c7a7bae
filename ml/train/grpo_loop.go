package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/optim"
)

// loop samples, scores and updates until the plan, the time budget or
// early stopping ends the run, then leaves the best weights in the model.
func (r *grpoRun) loop() error {
	cfg := &r.cfg
	ctx := r.ctx
	if !r.hard.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, r.hard)
		defer cancel()
	}
	if len(r.val) > 0 {
		// The baseline may take at most a fifth of the time left: sampling
		// is costly, and a short budget is better spent training.
		vctx, cancel := ctx, context.CancelFunc(func() {})
		if !r.hard.IsZero() {
			vctx, cancel = context.WithTimeout(ctx, r.timeLeft()/5)
		}
		t0 := time.Now()
		v, err := r.validate(vctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			msg := fmt.Sprintf("validation skipped: sampling the %d validation prompts takes more than a fifth of the time budget", len(r.val))
			r.res.Warnings = append(r.res.Warnings, msg)
			r.logf("warning: %s", msg)
			r.val = nil
		case err != nil:
			return r.budgetOr(err, "the first validation")
		}
		if err == nil {
			r.evalDur = time.Since(t0)
			r.res.InitialValReward = v.Reward
			r.logf("validation before training: reward %.4f%s (%s)", v.Reward, partsText(cfg.RewardNames, v.Parts), r.evalDur.Round(time.Millisecond))
			r.metric(map[string]any{"step": 0, "val_reward": v.Reward, "val_parts": v.Parts})
		}
	}
	if cfg.LR == 0 {
		cfg.LR = grpoLR(r.m.NumParams(), r.m.LoRA() != nil)
		why := "a tenth of the fine-tuning default for the model size and mode, as for DPO: updates on the model's own samples are noisy"
		if r.m.NumParams() <= grpoSmall {
			why = "the fine-tuning default for a model this small (up to 50M parameters), which needs large steps to move"
		}
		r.choose("learning rate", cfg.LR, why)
	}
	r.res.LR = cfg.LR
	r.opt = optim.NewAdamW(r.params, optim.AdamWConfig{LR: cfg.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: cfg.WeightDecay})
	r.res.StopReason = StopCompleted
	// As in SFT, the weights returned are the final ones or the best
	// validated during training, never the start: a run always returns
	// what it trained.
	r.bestVal = math.Inf(-1)
	step := 0
outer:
	for step < r.total {
		if r.ctx.Err() != nil {
			r.res.StopReason = StopCanceled
			break
		}
		if step > 0 && !r.hard.IsZero() {
			need := r.worstStep() + r.worstStep()/4
			if len(r.val) > 0 {
				need += r.evalDur + r.evalDur/2
			}
			if r.now().Add(need).After(r.hard) {
				r.res.StopReason = StopBudget
				break
			}
		}
		b, cost, err := r.sample(ctx, step)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
				if step == 0 {
					return fmt.Errorf("%w: sampling the first step's completions did not finish before the deadline", ErrBudget)
				}
				r.res.StopReason = StopBudget
				break
			}
			if r.ctx.Err() != nil {
				r.res.StopReason = StopCanceled
				break
			}
			return err
		}
		r.sampleDur += cost.Sampling
		r.res.Completions += int64(len(b.seqs))
		r.res.CompletionTokens += b.tokens
		for it := 0; it < cfg.Iterations && step < r.total; it++ {
			tb := time.Now()
			optim.ZeroGrads(r.params)
			u, err := r.update(ctx, b, it)
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
					if step == 0 {
						return fmt.Errorf("%w: the first update did not finish before the deadline", ErrBudget)
					}
					r.res.StopReason = StopBudget
					break outer
				}
				return err
			}
			gn := math.NaN()
			if finite(u.loss) {
				if cfg.MaxGradNorm > 0 {
					gn = optim.ClipGradNorm(r.params, cfg.MaxGradNorm)
				} else {
					gn = optim.GradNorm(r.params)
				}
			}
			if !finite(u.loss) || !finite(gn) {
				if err := r.diverged(step+1, u.loss, gn); err != nil {
					return err
				}
				break outer
			}
			lr := r.lr(step)
			r.opt.Step(lr)
			cost.Backward += time.Since(tb)
			d := cost.Total()
			if it > 0 {
				d = time.Since(tb)
			}
			r.stepDurs = append(r.stepDurs, d)
			r.trainTime += d
			r.tokens += u.tokens
			step++
			r.res.Steps = step
			if step == 1 {
				r.res.FirstLoss, r.res.FirstReward = u.loss, b.reward
			}
			r.losses = appendRecent(r.losses, u.loss)
			r.rewards = appendRecent(r.rewards, b.reward)
			rec := map[string]any{"step": step, "epoch": round4(r.epochNow()), "loss": u.loss, "reward": b.reward, "reward_std": b.std,
				"parts": b.parts, "kl": u.kl, "clip_fraction": u.clipped, "completion_len": float64(b.tokens) / float64(len(b.seqs)),
				"lr": lr, "grad_norm": gn, "sampling_s": round4(cost.Sampling.Seconds()), "reward_s": round4(cost.Reward.Seconds()),
				"backward_s": round4(cost.Backward.Seconds()), "elapsed_s": round4(time.Since(r.start).Seconds())}
			if it == 0 {
				r.res.Cost.Sampling += cost.Sampling
				r.res.Cost.SamplingCPU += cost.SamplingCPU
				r.res.Cost.Reward += cost.Reward
				r.res.Cost.Backward += cost.Backward
				r.prompted += int64(b.prompts)
			} else {
				r.res.Cost.Backward += d
			}
			r.replan(step)
			if len(r.val) > 0 && step%r.evalEvery == 0 && step < r.total {
				stop, err := r.validateStep(ctx, step, rec)
				if err != nil {
					return err
				}
				r.metric(rec)
				r.report(step, u.loss, b.reward, lr)
				if stop {
					if r.res.StopReason != StopDiverged {
						r.res.StopReason = StopEarly
					}
					break outer
				}
				continue
			}
			r.metric(rec)
			r.report(step, u.loss, b.reward, lr)
		}
	}
	if r.res.Steps == 0 {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		return fmt.Errorf("%w: no training step fits before the deadline", ErrBudget)
	}
	return r.finish(ctx)
}

// grpoSmall is the size up to which GRPO takes the SFT learning rate.
const grpoSmall = 50_000_000

// grpoLR is GRPO's default learning rate: the SFT default for small
// models (on the 5.5M-parameter crucible-tiny, 3e-4 raised the
// arithmetic set's reward from 0.003 to 0.53 in two minutes where 3e-5
// reached 0.035 in three), a tenth of it (DPO's) for larger ones.
func grpoLR(params int, lora bool) float64 {
	return DefaultLR(params, lora, params > grpoSmall)
}

func appendRecent(xs []float64, x float64) []float64 {
	xs = append(xs, x)
	if len(xs) > 10 {
		xs = xs[1:]
	}
	return xs
}

func (r *grpoRun) epochNow() float64 {
	return float64(r.epoch) + float64(r.pos)/float64(max(1, len(r.train)))
}

func (r *grpoRun) worstStep() time.Duration {
	var w time.Duration
	for _, d := range r.stepDurs[max(0, len(r.stepDurs)-10):] {
		w = max(w, d)
	}
	return w
}

func (r *grpoRun) meanStep() time.Duration {
	if len(r.stepDurs) == 0 {
		return 0
	}
	var s time.Duration
	recent := r.stepDurs[max(0, len(r.stepDurs)-20):]
	for _, d := range recent {
		s += d
	}
	return s / time.Duration(len(recent))
}

func (r *grpoRun) budgetOr(err error, phase string) error {
	if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
		return fmt.Errorf("%w: the deadline passed during %s", ErrBudget, phase)
	}
	return err
}

// lr is the learning rate of a step: linear warmup, then the configured
// decay to MinLRRatio over the planned steps.
func (r *grpoRun) lr(step int) float64 {
	s, err := optim.NewSchedule(r.cfg.Schedule, r.cfg.LR, min(r.warmup, r.total), r.total, r.cfg.MinLRRatio)
	if err != nil {
		return r.cfg.LR
	}
	return s.LR(step + 1)
}

// replan sizes the schedule to the time left (as the SFT loop does) and
// picks the validation interval.
func (r *grpoRun) replan(done int) {
	cfg := &r.cfg
	planTotal := max(1, int(math.Ceil(cfg.Epochs*float64(r.perEpoch)))*cfg.Iterations)
	if cfg.MaxSteps > 0 {
		planTotal = min(planTotal, cfg.MaxSteps)
	}
	total := planTotal
	reason := fmt.Sprintf("%g epochs of %d sample batches, %d update(s) each", cfg.Epochs, r.perEpoch, cfg.Iterations)
	mean := r.meanStep()
	if !r.hard.IsZero() && mean > 0 {
		left := r.timeLeft() - r.worstStep()/10 - r.evalDur
		if r.evalEvery > 0 && r.evalEvery < math.MaxInt32 {
			left -= min(time.Duration(float64(max(0, total-done))/float64(r.evalEvery)*float64(r.evalDur)), left/10)
		}
		if fit := done + max(0, int(float64(left)/float64(mean))); fit < total {
			total = max(done, fit)
			reason = fmt.Sprintf("the time budget fits %d steps at %s per step (of %d planned)", total, mean.Round(time.Millisecond), planTotal)
		}
	}
	first := r.planned == 0
	moved := first || abs(total-r.planned) > max(2, r.planned/4)
	if moved {
		if first {
			r.warmup = max(1, int(math.Round(cfg.WarmupRatio*float64(total))))
		}
		r.logf("steps = %d: %s", total, reason)
		r.planned = total
	}
	r.total = max(total, done)
	if len(r.val) == 0 {
		r.evalEvery = math.MaxInt32
		return
	}
	if cfg.EvalEvery > 0 {
		r.evalEvery = cfg.EvalEvery
		return
	}
	if !moved && done != 3 {
		return // the interval is revised when the plan moves (and once the step time is known)
	}
	every := max(1, r.total/10)
	if mean > 0 {
		every = max(every, int(math.Ceil(10*float64(r.evalDur)/float64(mean))))
	}
	if every != r.evalEvery {
		r.logf("validate every %d steps", every)
	}
	r.evalEvery = every
}

func (r *grpoRun) report(step int, loss, reward, lr float64) {
	if r.cfg.Progress == nil {
		return
	}
	frac := float64(step) / float64(r.total)
	if !r.hard.IsZero() {
		frac = max(frac, float64(time.Since(r.start))/float64(r.hard.Sub(r.start)))
	}
	tps := 0.0
	if r.sampleDur > 0 {
		tps = float64(r.res.CompletionTokens) / r.sampleDur.Seconds()
	}
	r.cfg.Progress(Progress{Step: step, TotalSteps: r.total, Epoch: r.epochNow(), Loss: loss, LR: lr, TokensPerS: tps, Fraction: min(1, frac), Reward: &reward,
		Message: fmt.Sprintf("step %d/%d reward %.4f loss %.4f", step, r.total, reward, loss)})
}

// validate samples the validation prompts with fixed seeds and scores
// them: the same procedure as the validator's evaluation, without the KL
// guard.
func (r *grpoRun) validate(ctx context.Context) (*eval.GRPOResult, error) {
	cfg := &r.cfg
	prompts := make([][]int32, len(r.val))
	for k, i := range r.val {
		prompts[k] = r.prompts[i]
	}
	reward := func(ctx context.Context, k int, comps [][]int32) ([]eval.RewardScore, error) {
		return cfg.Reward(ctx, r.val[k], comps)
	}
	stops := cfg.StopTokens
	if stops == nil {
		for _, e := range r.m.Generation.EOS {
			stops = append(stops, int32(e))
		}
	}
	return eval.GRPO(ctx, r.m, nil, prompts, reward, eval.GRPOOptions{Samples: cfg.ValSamples, MaxNewTokens: cfg.MaxCompletion,
		Temperature: cfg.Temperature, TopP: cfg.TopP, StopTokens: stops, Seed: cfg.Seed ^ 0x76616c})
}

// validateStep validates, keeps the best weights and reports whether
// patience ran out.
func (r *grpoRun) validateStep(ctx context.Context, step int, rec map[string]any) (bool, error) {
	if !r.hard.IsZero() && r.now().Add(2*r.evalDur).After(r.hard) {
		return false, nil
	}
	t0 := time.Now()
	v, err := r.validate(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		return false, err
	}
	r.evalDur = max(r.evalDur, time.Since(t0))
	rec["val_reward"], rec["val_parts"] = v.Reward, v.Parts
	r.logf("step %d: validation reward %.4f%s", step, v.Reward, partsText(r.cfg.RewardNames, v.Parts))
	if v.Reward > r.bestVal {
		r.bestVal, r.bestStep, r.bestParts = v.Reward, step, v.Parts
		r.best = takeSnapshot(r.params, r.best)
		r.badEvals = 0
		return false, nil
	}
	r.badEvals++
	if r.cfg.Patience > 0 && r.badEvals >= r.cfg.Patience {
		r.logf("step %d: no validation improvement in %d validations; stopping early (best %.4f at step %d)", step, r.badEvals, r.bestVal, r.bestStep)
		return true, nil
	}
	return false, nil
}

// diverged rolls back to the best validated weights (or the start) when
// the loss or gradient turns non-finite.
func (r *grpoRun) diverged(step int, loss, gn float64) error {
	r.res.StopReason = StopDiverged
	what := fmt.Sprintf("loss %v, gradient norm %v at step %d", loss, gn, step)
	if r.best != nil {
		r.best.restore(r.params)
		r.bestVal = math.Inf(-1) // the restored weights are what finish validates
		r.best = nil
		r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("training diverged (%s); rolled back to the weights of step %d", what, r.bestStep))
		r.logf("warning: training diverged (%s); rolled back to the weights of step %d", what, r.bestStep)
		r.res.Steps = r.bestStep
		return nil
	}
	return fmt.Errorf("training diverged (%s) before any validated weights; try a lower learning rate", what)
}

// finish validates the final weights and keeps the best.
func (r *grpoRun) finish(ctx context.Context) error {
	if r.ctx.Err() == context.Canceled {
		ctx = context.WithoutCancel(r.ctx)
		if !r.hard.IsZero() {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, r.hard)
			defer cancel()
		}
	}
	res := r.res
	res.Tokens = r.tokens
	if r.trainTime > 0 {
		res.TokensPerS = float64(r.tokens) / r.trainTime.Seconds()
		res.PromptsPerS = float64(r.prompted) / r.trainTime.Seconds()
	}
	if r.sampleDur > 0 {
		res.SampleTokensPerS = float64(res.CompletionTokens) / r.sampleDur.Seconds()
	}
	if res.Cost.SamplingCPU > 0 {
		res.SampleTokensPerCPUS = float64(res.CompletionTokens) / res.Cost.SamplingCPU.Seconds()
	}
	res.Epochs = r.epochNow()
	for _, l := range r.losses {
		res.TrainLoss += l / float64(len(r.losses))
	}
	for _, x := range r.rewards {
		res.TrainReward += x / float64(len(r.rewards))
	}
	res.BestStep = res.Steps
	if len(r.val) > 0 {
		var v *eval.GRPOResult
		err := context.DeadlineExceeded
		if r.hard.IsZero() || r.now().Add(r.evalDur+r.evalDur/4).Before(r.hard) {
			v, err = r.validate(ctx)
		}
		switch {
		case err == nil && (r.best == nil || v.Reward >= r.bestVal):
			res.ValReward, res.ValParts = v.Reward, v.Parts
			r.logf("final validation reward %.4f%s", v.Reward, partsText(r.cfg.RewardNames, v.Parts))
		case r.best != nil && (err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)):
			r.best.restore(r.params)
			res.ValReward, res.ValParts, res.BestStep = r.bestVal, r.bestParts, r.bestStep
			if err != nil {
				r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("final validation did not finish (%v); kept the weights of step %d", err, r.bestStep))
			} else {
				r.logf("final validation reward %.4f is below step %d's %.4f: keeping step %d's weights", v.Reward, r.bestStep, r.bestVal, r.bestStep)
			}
		case err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			if err != nil {
				r.res.Warnings = append(r.res.Warnings, fmt.Sprintf("final validation did not finish (%v); kept the last weights", err))
			}
		default:
			return err
		}
		r.metric(map[string]any{"step": res.Steps, "final": true, "val_reward": res.ValReward, "best_step": res.BestStep})
	}
	if r.planned < int(math.Ceil(r.cfg.Epochs*float64(r.perEpoch)))*r.cfg.Iterations && res.StopReason == StopCompleted && r.cfg.MaxSteps == 0 {
		res.StopReason = StopBudget
	}
	r.logf("stopped: %s after %d steps (%.0f sampled tokens/s; time: sampling %s, reward %s, backward %s)", res.StopReason, res.Steps,
		res.SampleTokensPerS, res.Cost.Sampling.Round(time.Millisecond), res.Cost.Reward.Round(time.Millisecond), res.Cost.Backward.Round(time.Millisecond))
	return nil
}

func partsText(names []string, parts []float64) string {
	if len(parts) < 2 {
		return ""
	}
	s := " ("
	for i, p := range parts {
		if i > 0 {
			s += ", "
		}
		name := fmt.Sprintf("reward %d", i+1)
		if i < len(names) {
			name = names[i]
		}
		s += fmt.Sprintf("%s %.3f", name, p)
	}
	return s + ")"
}
