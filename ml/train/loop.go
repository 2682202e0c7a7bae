package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/ml/kernel"
	"github.com/crucible-net/crucible/ml/optim"
)

// loop runs the optimizer steps until the plan, the data, the time budget
// or early stopping ends them, then leaves the best weights in the model.
func (r *run) loop() error {
	cfg := &r.cfg
	ctx := r.ctx
	if !r.hard.IsZero() && cfg.Compute == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, r.hard)
		defer cancel()
	}
	// Validation before training: the baseline, and the cost of one.
	if r.obj.hasVal() {
		t0 := r.meter()
		v, err := r.obj.validate(ctx)
		if err != nil {
			return r.budgetOr(err, "the first validation")
		}
		r.charge(r.valFLOPs)
		r.evalDur = r.meter().Sub(t0)
		r.res.InitialValLoss, r.res.InitialRewardAccuracy = v.loss, v.acc
		r.logf("validation before training: loss %.4f%s (%s)", v.loss, accText(r.obj, v), r.evalDur.Round(time.Millisecond))
		rec := map[string]any{"step": 0, "val_loss": v.loss}
		if _, ok := r.obj.(*dpo); ok {
			rec["val_reward_accuracy"], rec["val_reward_margin"] = v.acc, v.margin
		}
		r.metric(rec)
	}
	first := 0
	var resumed *CheckpointState
	if cfg.Resume != "" {
		st, err := ReadCheckpointState(cfg.Resume)
		if err != nil {
			return err
		}
		if st.Seed != cfg.Seed {
			return fmt.Errorf("checkpoint %s was written with seed %d, not %d: its data order would not continue", cfg.Resume, st.Seed, cfg.Seed)
		}
		if st.Data != cfg.DataID {
			return fmt.Errorf("checkpoint %s was written for other data (%q, not %q): its data order would not continue", cfg.Resume, st.Data, cfg.DataID)
		}
		if err := LoadCheckpointWeights(cfg.Resume, r.params); err != nil {
			return fmt.Errorf("resume: %w (was it written for this model and mode?)", err)
		}
		if cfg.LR == 0 {
			cfg.LR = st.LR
			r.choose("learning rate", st.LR, "the learning rate of the run being resumed")
		}
		resumed, first = &st, st.Step
	}
	if cfg.LR == 0 {
		lr, reason, err := r.rangeTest(ctx)
		if err != nil {
			return r.budgetOr(err, "the learning-rate range test")
		}
		cfg.LR = lr
		r.choose("learning rate", lr, reason)
	}
	r.res.LR = cfg.LR
	wd := cfg.WeightDecay
	// In bf16 precision the moments are kept as bf16 too (stochastic
	// rounding): with float32 master weights and gradients that is 12
	// bytes per trained parameter instead of 16.
	bf16State := r.m.Precision() == kernel.BF16
	r.opt = optim.NewAdamW(r.params, optim.AdamWConfig{LR: cfg.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: wd, BF16State: bf16State})
	if resumed != nil {
		if err := r.opt.LoadStateFile(filepath.Join(cfg.Resume, CheckpointOptimizer)); err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		r.epoch, r.pos = resumed.EpochIndex, resumed.Batch
		r.batches = epochBatches(r.obj.lengths(), cfg.BatchSize, r.batchTokens(), cfg.Seed, r.epoch)
		r.res.Steps = first
		r.logf("resumed from %s at step %d (epoch %.2f)", cfg.Resume, first, resumed.Epoch)
	}
	r.lastCkpt = r.meter()
	r.bestVal = math.Inf(1)
	r.res.StopReason = StopCompleted

	for step := first; step < r.total; step++ {
		if err := r.ctx.Err(); err != nil {
			r.res.StopReason = StopCanceled
			break
		}
		if !r.hard.IsZero() {
			need := r.worstStep() + r.worstStep()/4
			if r.obj.hasVal() {
				need += r.evalDur + r.evalDur/2 // the final validation
			}
			if step > first && r.now().Add(need).After(r.hard) {
				r.res.StopReason = StopBudget
				break
			}
		}
		t0 := r.meter()
		group := r.nextGroup()
		if step == first && !r.hard.IsZero() && r.valTokens > 0 {
			// No step measured yet: estimate the first from the validation.
			tokens := 0
			for _, mb := range group {
				for _, i := range mb {
					tokens += r.obj.lengths()[i]
				}
			}
			est := time.Duration(float64(r.evalDur) * r.stepCost * float64(tokens) / float64(r.valTokens))
			if r.now().Add(est / 2).After(r.hard) { // a rough estimate: refuse only a clear overrun
				return fmt.Errorf("%w for one step: about %s needed, %s left", ErrBudget, est.Round(time.Millisecond), r.timeLeft().Round(time.Millisecond))
			}
		}
		optim.ZeroGrads(r.params)
		out, err := r.obj.step(group)
		if err != nil {
			return err
		}
		r.charge(r.stepFLOPs(group))
		if cfg.faultStep == step+1 {
			out.loss = math.NaN()
		}
		gn, clip := math.NaN(), float32(1)
		if finite(out.loss) {
			gn = optim.GradNorm(r.params)
			if cfg.MaxGradNorm > 0 {
				clip = optim.ClipScale(gn, cfg.MaxGradNorm) // applied by the update
			}
		}
		if !finite(out.loss) || !finite(gn) {
			if err := r.diverged(step+1, out.loss, gn); err != nil {
				return err
			}
			break
		}
		lr := r.lr(step)
		r.opt.StepScaled(lr, clip)
		d := r.meter().Sub(t0)
		r.stepDurs = append(r.stepDurs, d)
		r.trainTime += d
		r.tokens += out.tokens
		r.res.Steps = step + 1
		if step == first {
			r.res.FirstLoss = out.loss
		}
		r.lastLoss = append(r.lastLoss, out.loss)
		if len(r.lastLoss) > 10 {
			r.lastLoss = r.lastLoss[1:]
		}
		tps := float64(r.tokens) / r.trainTime.Seconds()
		rec := map[string]any{"step": step + 1, "epoch": round4(r.epochNow()), "loss": out.loss, "lr": lr, "grad_norm": gn,
			"tokens_per_s": math.Round(tps), "elapsed_s": round4(r.meter().Sub(r.start).Seconds())}
		if _, ok := r.obj.(*dpo); ok {
			rec["reward_accuracy"], rec["reward_margin"] = out.acc, out.margin
		}
		r.replan(step + 1)
		if r.obj.hasVal() && ((step+1)%r.evalEvery == 0) && step+1 < r.total {
			stop, err := r.validate(ctx, step+1, rec)
			if err != nil {
				return err
			}
			r.metric(rec)
			r.report(step+1, out.loss, lr, tps)
			if stop {
				if r.res.StopReason != StopDiverged {
					r.res.StopReason = StopEarly
				}
				break
			}
		} else {
			r.metric(rec)
			r.report(step+1, out.loss, lr, tps)
		}
		if cfg.CheckpointDir != "" && r.meter().Sub(r.lastCkpt) >= cfg.CheckpointEvery && step+1 < r.total {
			if err := r.checkpoint(step+1, out.loss); err != nil {
				return err
			}
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

// budgetOr turns a deadline hit during a preliminary phase into ErrBudget.
func (r *run) budgetOr(err error, phase string) error {
	if errors.Is(err, context.DeadlineExceeded) && r.ctx.Err() == nil {
		return fmt.Errorf("%w: the deadline passed during %s", ErrBudget, phase)
	}
	return err
}

func (r *run) report(step int, loss, lr, tps float64) {
	if r.cfg.Progress == nil {
		return
	}
	frac := float64(step) / float64(r.total)
	if !r.hard.IsZero() {
		span := r.hard.Sub(r.start)
		frac = max(frac, float64(r.meter().Sub(r.start))/float64(span))
	}
	r.cfg.Progress(Progress{Step: step, TotalSteps: r.total, Epoch: r.epochNow(), Loss: loss, LR: lr, TokensPerS: tps,
		Fraction: min(1, frac), Message: fmt.Sprintf("step %d/%d loss %.4f", step, r.total, loss)})
}

// replan sizes the schedule to the time left from the measured step time
// (every step: a deadline run ends when its time is used, not before), and
// picks the validation interval. The plan is logged when it first forms
// and whenever it moves by more than a quarter.
func (r *run) replan(done int) {
	epochTotal := max(1, int(math.Ceil(r.epochs*float64(r.perEpoch))))
	if r.cfg.MaxSteps > 0 {
		epochTotal = min(epochTotal, r.cfg.MaxSteps)
	}
	total := epochTotal
	reason := fmt.Sprintf("%g epochs of %d steps", r.epochs, r.perEpoch)
	mean := r.meanStep()
	r.budgetCut = false
	if !r.hard.IsZero() && mean > 0 {
		left := r.timeLeft() - r.worstStep()/10
		evals := 1.0
		if r.obj.hasVal() && r.evalEvery > 0 && r.evalEvery < math.MaxInt32 {
			evals += float64(max(0, total-done)) / float64(r.evalEvery)
		}
		// The final validation, and the periodic ones, which evalEvery keeps
		// to about a tenth of the time (and which are skipped when late).
		left -= r.evalDur + min(time.Duration((evals-1)*float64(r.evalDur)), left/10)
		if fit := done + max(0, int(float64(left)/float64(mean))); fit < total {
			total = max(done, fit)
			r.budgetCut = true
			reason = fmt.Sprintf("the time budget fits %d steps at %s per step (of %d for %g epochs)", total, mean.Round(time.Millisecond), epochTotal, r.epochs)
		}
	}
	first := r.plannedTotal == 0
	moved := first || abs(total-r.plannedTotal) > max(2, r.plannedTotal/4)
	if first {
		r.warmup = max(1, int(math.Round(r.cfg.WarmupRatio*float64(total))))
	}
	r.total = max(total, done)
	r.revise("steps", r.total, reason, moved)
	if moved {
		r.plannedTotal = r.total
	}
	if !r.obj.hasVal() {
		r.evalEvery = math.MaxInt32
		return
	}
	if r.cfg.EvalEvery > 0 {
		r.evalEvery = r.cfg.EvalEvery
		return
	}
	if !moved && done != 3 {
		return
	}
	every := max(1, r.total/10)
	why := "about ten validations over the run"
	if mean > 0 {
		if floor := int(math.Ceil(10 * float64(r.evalDur) / float64(mean))); floor > every {
			every, why = floor, fmt.Sprintf("one validation takes %s: validations kept to a tenth of the time", r.evalDur.Round(time.Millisecond))
		}
	}
	if every != r.evalEvery {
		r.evalEvery = every
		r.revise("validate every", every, why, true)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// validate evaluates the held-out slice, keeps the best weights and
// reports whether patience ran out.
func (r *run) validate(ctx context.Context, step int, rec map[string]any) (bool, error) {
	if r.now().Add(2*r.evalDur).After(r.hard) && !r.hard.IsZero() {
		return false, nil // the final validation still fits; this one would not leave room for it
	}
	t0 := r.meter()
	v, err := r.obj.validate(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return false, nil
		}
		return false, err
	}
	r.charge(r.valFLOPs)
	r.evalDur = max(r.evalDur, r.meter().Sub(t0))
	rec["val_loss"] = v.loss
	if _, ok := r.obj.(*dpo); ok {
		rec["val_reward_accuracy"], rec["val_reward_margin"] = v.acc, v.margin
	}
	r.logf("step %d: validation loss %.4f%s", step, v.loss, accText(r.obj, v))
	if !finite(v.loss) {
		return true, r.diverged(step, v.loss, math.NaN())
	}
	if v.loss < r.bestVal {
		r.bestVal, r.bestStep, r.bestAcc, r.bestMar = v.loss, step, v.acc, v.margin
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

// diverged handles a non-finite loss or gradient: roll back to the last
// checkpoint or the best validated weights and stop; without either there
// is nothing good to return.
func (r *run) diverged(step int, loss, gn float64) error {
	r.res.StopReason = StopDiverged
	what := fmt.Sprintf("loss %v, gradient norm %v at step %d", loss, gn, step)
	if r.ckptPath != "" {
		if err := LoadCheckpointWeights(r.ckptPath, r.params); err != nil {
			return fmt.Errorf("training diverged (%s) and rolling back failed: %w", what, err)
		}
		st, _ := ReadCheckpointState(r.ckptPath)
		r.warn("training diverged (%s); rolled back to the checkpoint of step %d", what, st.Step)
		r.res.Steps = st.Step
		r.best = nil // the checkpoint is what is returned unless validation finds better
		return nil
	}
	if r.best != nil {
		r.best.restore(r.params)
		r.warn("training diverged (%s); rolled back to the best validated weights of step %d", what, r.bestStep)
		r.res.Steps = r.bestStep
		return nil
	}
	return fmt.Errorf("training diverged (%s) before any checkpoint or validated weights; try a lower learning rate", what)
}

// checkpoint writes one checkpoint if the time budget allows.
func (r *run) checkpoint(step int, loss float64) error {
	if !r.hard.IsZero() && r.now().Add(2*r.ckptDur+r.worstStep()+r.evalDur).After(r.hard) {
		return nil
	}
	t0 := r.meter()
	path, err := writeCheckpoint(r.cfg.CheckpointDir, r.params, r.opt, CheckpointState{Step: step, Epoch: r.epochNow(), TrainLoss: loss,
		Seed: r.cfg.Seed, LR: r.cfg.LR, EpochIndex: r.epoch, Batch: r.pos, Data: r.cfg.DataID})
	if err != nil {
		return err
	}
	r.ckptDur = max(r.ckptDur, r.meter().Sub(t0))
	r.ckptPath, r.lastCkpt = path, r.meter()
	r.logf("step %d: checkpoint %s (%s)", step, path, r.ckptDur.Round(time.Millisecond))
	return nil
}

// finish validates the final weights and keeps the best.
func (r *run) finish(ctx context.Context) error {
	if r.ctx.Err() == context.Canceled {
		// An interrupted run still picks its best weights, within the
		// deadline.
		ctx = context.WithoutCancel(r.ctx)
		if !r.hard.IsZero() && r.cfg.Compute == nil {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, r.hard)
			defer cancel()
		}
	}
	res := r.res
	res.Tokens = r.tokens
	if r.trainTime > 0 {
		res.TokensPerS = float64(r.tokens) / r.trainTime.Seconds()
	}
	res.Epochs = r.epochNow()
	for _, l := range r.lastLoss {
		res.TrainLoss += l / float64(len(r.lastLoss))
	}
	res.BestStep = res.Steps
	if r.obj.hasVal() {
		var v valOut
		err := context.DeadlineExceeded
		if r.hard.IsZero() || r.now().Add(r.evalDur+r.evalDur/4).Before(r.hard) {
			v, err = r.obj.validate(ctx)
			r.charge(r.valFLOPs)
		}
		switch {
		case err == nil && finite(v.loss) && (r.best == nil || v.loss <= r.bestVal):
			res.ValLoss, res.RewardAccuracy, res.Margin = v.loss, v.acc, v.margin
			r.logf("final validation loss %.4f%s", v.loss, accText(r.obj, v))
		case r.best != nil:
			r.best.restore(r.params)
			res.ValLoss, res.RewardAccuracy, res.Margin, res.BestStep = r.bestVal, r.bestAcc, r.bestMar, r.bestStep
			if err != nil {
				r.warn("final validation did not finish (%v); kept the best validated weights of step %d", err, r.bestStep)
			} else {
				r.logf("final validation loss %.4f is worse than step %d's %.4f: keeping step %d's weights", v.loss, r.bestStep, r.bestVal, r.bestStep)
			}
		case err == nil:
			// No validated weights to fall back on and the final ones score
			// a non-finite loss.
			if err := r.diverged(res.Steps, v.loss, math.NaN()); err != nil {
				return err
			}
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
			return err
		default:
			r.warn("final validation did not finish before the deadline (%v)", err)
		}
		r.metric(map[string]any{"step": res.Steps, "final": true, "val_loss": res.ValLoss, "best_step": res.BestStep})
	}
	if r.budgetCut && res.StopReason == StopCompleted {
		res.StopReason = StopBudget
	}
	r.logf("stopped: %s after %d steps (%.2f epochs, %.0f tokens/s)", res.StopReason, res.Steps, res.Epochs, res.TokensPerS)
	return nil
}

func accText(o objective, v valOut) string {
	if _, ok := o.(*dpo); ok {
		return fmt.Sprintf(", reward accuracy %.3f, margin %.4f", v.acc, v.margin)
	}
	return ""
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
