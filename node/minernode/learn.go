package minernode

import (
	"context"

	"github.com/crucible-net/crucible/adaptive"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
)

// maxLearnPages bounds how much of a results log one task reads (a page
// is up to 1000 entries); the rest is read before the next task.
const maxLearnPages = 20

// Learn reads the validator's results log from where the history left
// off: the validator's scores of this miner's trials replace their
// estimates, and every other miner's published recipe with its test loss
// becomes a trial to learn from. Every entry is checked before it is
// believed: signed by the validator, hashed as it says, and continuing
// the chain the history read last time; a page that does not check is
// refused whole and the history is left as it was.
func (s *AdaptiveStrategy) Learn(ctx context.Context, validator string, results func(context.Context, int64) ([]*crucible.ResultEntry, error)) error {
	if results == nil || validator == "" {
		return nil
	}
	for range maxLearnPages {
		cur := s.hist.Cursor(validator)
		entries, err := results(ctx, cur.Seq)
		if err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil
		}
		if probs := resultlog.Verify(entries, cur.Seq+1, cur.Hash, validator, sign.VerifySignature); len(probs) > 0 {
			return crucible.Errorf(crucible.EINVALID, "results log of %s, entry %d: %s", validator, probs[0].Seq, probs[0].Message)
		}
		tasks, _, err := resultlog.Decode(entries)
		if err != nil {
			return crucible.Wrap(err, crucible.EINVALID, "results log of %s", validator)
		}
		var trials []adaptive.Trial
		for _, t := range tasks {
			trials = append(trials, s.trialsOf(validator, t)...)
		}
		last := entries[len(entries)-1]
		if err := s.hist.Advance(validator, adaptive.Cursor{Seq: last.Seq, Hash: last.Hash}, trials...); err != nil {
			return err
		}
	}
	return nil
}

// trialsOf turns a task's published results into trials: this miner's
// own (its trial, with the validator's evaluation) and, for the others,
// the recipes they published.
func (s *AdaptiveStrategy) trialsOf(validator string, t resultlog.TaskResult) []adaptive.Trial {
	var winnerLoss *float64
	for _, m := range t.Miners {
		if m.Hotkey == t.Winner {
			winnerLoss = m.Loss
		}
	}
	var out []adaptive.Trial
	for _, m := range t.Miners {
		o := &adaptive.Outcome{Loss: m.Loss, BaseLoss: t.BaseLoss, Failure: m.Failure, Rank: m.Rank, Miners: len(t.Miners),
			WinnerLoss: winnerLoss}
		score := m.Score
		o.Score = &score
		if m.Reward != nil && t.BaseReward != nil {
			r, b := m.Reward.Score, t.BaseReward.Score
			o.Reward, o.BaseReward = &r, &b
		}
		if m.Hotkey == s.hotkey {
			own, ok := s.hist.Trial(t.TaskID)
			if !ok {
				continue // a task this history did not train (another strategy, or a lost history)
			}
			own.Outcome = o
			out = append(out, own)
			continue
		}
		// Another miner's recipe, as it published it: a failed submission
		// says little about its recipe (it may have been late, or a copy).
		if m.Training == nil || m.Failure != "" {
			continue
		}
		p, ok := paramsOf(m.Training)
		if !ok {
			continue
		}
		out = append(out, adaptive.Trial{ID: t.TaskID + "/" + m.Hotkey, TaskID: t.TaskID, Hotkey: m.Hotkey, Validator: validator,
			Strategy: m.Training.Strategy, At: t.FinishedAt,
			Features: adaptive.Features{Model: t.Model, Params: t.ModelParams, Type: t.TaskType, Rows: m.Training.Examples,
				Budget: budgetSeconds(t.Hours), Dataset: m.Training.DataSHA256},
			Params: p, Outcome: o})
	}
	return out
}

// paramsOf reads a published training summary as the search's params;
// false when it cannot be one (the summary checks ranges, not sense).
func paramsOf(tr *crucible.TrainingSummary) (adaptive.Params, bool) {
	p := adaptive.Params{Full: tr.Mode == "full", LR: tr.LR, Epochs: tr.Epochs, Batch: max(tr.BatchSize, 1),
		Schedule: tr.Schedule, MinLRRatio: tr.MinLRRatio, Warmup: tr.WarmupRatio}
	if !p.Full {
		p.LoRARank = tr.LoRARank
	}
	if p.Schedule == "" {
		p.Schedule = "cosine"
	}
	return p, p.Check() == nil
}
