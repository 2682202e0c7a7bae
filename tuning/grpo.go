package tuning

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/eval"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/train"
	"github.com/crucible-net/crucible/reward"
)

// DefaultMaxCompletion is the completion length GRPO samples when the
// recipe names none: short answers, which the task's rewards judge.
const DefaultMaxCompletion = 32

// grpoSampleRows is how many rows the rewards are tried on before
// training (every row when checking a dataset).
const grpoSampleRows = 200

// loadGRPO reads a grpo dataset: its prompts tokenized (each leaving room
// for a completion of maxCompletion tokens within maxLen) with their text
// and extra columns.
func loadGRPO(path string, m crucible.ColumnMapping, reason string, tok *tokenizer.Tokenizer, maxLen, maxCompletion int) (*dataset, error) {
	exs, err := data.Examples(path, crucible.TaskGRPO, m)
	if err != nil {
		return nil, err
	}
	d := &dataset{Type: crucible.TaskGRPO, Mapping: m, Reason: reason, Rows: int64(len(exs))}
	var kept []data.Example
	for _, ex := range exs {
		if !ex.Empty() {
			kept = append(kept, ex)
		}
	}
	if len(kept) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "%s: no usable rows: all %d prompts are empty", path, len(exs))
	}
	maxPrompt := maxLen - maxCompletion
	if maxPrompt < 1 {
		return nil, crucible.Errorf(crucible.EINVALID, "completions of %d tokens leave no room for a prompt within the model's %d positions", maxCompletion, maxLen).
			WithHint("use a shorter maximum completion length")
	}
	prompts, st, err := data.TokenizePrompts(tok, kept, maxPrompt)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tokenize %s", path).
			WithHint("shorten that prompt, or the maximum completion length")
	}
	d.Stats = st
	d.Prompts, d.Examples = prompts, len(prompts)
	for _, p := range prompts {
		d.MaxLen = max(d.MaxLen, len(p.IDs)+maxCompletion)
	}
	return d, nil
}

// CheckRewards compiles rewards and runs them on up to n prompts of a
// grpo dataset (0: grpoSampleRows) with probe completions: the check a
// task's rewards pass before any training. Errors are EINVALID and list
// the failures with the reward, its line and the row.
func CheckRewards(rs []crucible.Reward, prompts []data.GRPOPrompt, n int) (*reward.Set, error) {
	set, err := reward.Compile(rs)
	if err != nil {
		return nil, err
	}
	if n <= 0 {
		n = grpoSampleRows
	}
	samples := make([]reward.Sample, 0, min(n, len(prompts)))
	for _, p := range prompts[:min(n, len(prompts))] {
		samples = append(samples, reward.Sample{Where: p.Pos.String(), Prompt: p.Text, Extra: p.Extra})
	}
	if errs := set.Check(samples, 10); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, crucible.Errorf(crucible.EINVALID, "the rewards fail on the dataset's rows: %s", strings.Join(msgs, "; ")).
			WithHint("fix the reward (or the rows it names) and try again")
	}
	return set, nil
}

// RewardFunc adapts a reward set to the trainer and evaluator: each
// completion is decoded (without its stop token) and scored against its
// prompt's text and extra columns. A reward that fails on a completion
// scores 0 for it (see reward.Set.ScoreLenient) and onError, when set,
// hears of it; the run goes on.
func RewardFunc(set *reward.Set, tok *tokenizer.Tokenizer, prompts []data.GRPOPrompt, stops []int32, onError func(error)) eval.RewardFunc {
	return func(ctx context.Context, i int, comps [][]int32) ([]eval.RewardScore, error) {
		if i < 0 || i >= len(prompts) {
			return nil, fmt.Errorf("reward: prompt %d out of range", i)
		}
		p := prompts[i]
		out := make([]eval.RewardScore, len(comps))
		for k, c := range comps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s, errs := set.ScoreLenient(p.Text, CompletionText(tok, c, stops), p.Extra)
			if onError != nil {
				for _, err := range errs {
					onError(fmt.Errorf("%s: %w", p.Pos, err))
				}
			}
			out[k] = eval.RewardScore{Total: s.Total, Parts: s.Parts}
		}
		return out, nil
	}
}

// CompletionText decodes a sampled completion, without the stop token
// that ended it.
func CompletionText(tok *tokenizer.Tokenizer, c []int32, stops []int32) string {
	if n := len(c); n > 0 {
		for _, s := range stops {
			if c[n-1] == s {
				c = c[:n-1]
				break
			}
		}
	}
	ids := make([]int, len(c))
	for i, t := range c {
		ids[i] = int(t)
	}
	return tok.Decode(ids)
}

// StopTokens are the ids that end a completion: the model's EOS ids, the
// tokenizer's EOS and the chat end-of-turn tokens the vocabulary has.
func StopTokens(m *model.Model, tok *tokenizer.Tokenizer) []int32 {
	var out []int32
	add := func(id int) {
		if id < 0 {
			return
		}
		for _, x := range out {
			if x == int32(id) {
				return
			}
		}
		out = append(out, int32(id))
	}
	for _, e := range m.Generation.EOS {
		add(e)
	}
	add(tok.EOSID())
	for _, s := range []string{"<|im_end|>", "<|eot_id|>", "<|end|>"} {
		if id, ok := tok.TokenID(s); ok {
			add(id)
		}
	}
	return out
}

// runGRPO trains by GRPO with the task's rewards.
func runGRPO(ctx context.Context, m *model.Model, tok *tokenizer.Tokenizer, spec Spec, ds *dataset, tc train.Config, choose func(train.Choice), report func(Progress)) (*train.GRPOResult, error) {
	set, err := CheckRewards(spec.Rewards, ds.Prompts, 0)
	if err != nil {
		return nil, err
	}
	var descr []string
	for _, r := range spec.Rewards {
		descr = append(descr, reward.Describe(r))
	}
	choose(train.Choice{Name: "rewards", Value: strings.Join(descr, ", "), Reason: fmt.Sprintf("checked on %d rows with probe completions", min(grpoSampleRows, len(ds.Prompts)))})
	stops := StopTokens(m, tok)
	ids := make([][]int32, len(ds.Prompts))
	for i, p := range ds.Prompts {
		ids[i] = p.IDs
	}
	r := spec.Recipe
	tc.Progress = func(p train.Progress) {
		l := p.Loss
		report(Progress{Fraction: 0.05 + 0.9*p.Fraction, Step: p.Step, Loss: &l, Reward: p.Reward, Message: fmt.Sprintf("%s, %.0f sampled tokens/s", p.Message, p.TokensPerS)})
	}
	tc.BatchSize, tc.GradAccum = r.BatchSize, r.GradAccum // prompts per micro-batch, micro-batches per step (GRPO defaults)
	var once sync.Once
	var failures atomic.Int64
	onError := func(err error) {
		failures.Add(1)
		once.Do(func() {
			if spec.Log != nil {
				spec.Log(fmt.Sprintf("warning: a reward failed on a sampled completion and counts 0 for it (further failures are counted): %v", err))
			}
		})
	}
	defer func() {
		if n := failures.Load(); n > 0 && spec.Log != nil {
			spec.Log(fmt.Sprintf("warning: rewards failed on %d sampled completions (each counted 0)", n))
		}
	}()
	gc := train.GRPOConfig{Config: tc, Reward: RewardFunc(set, tok, ds.Prompts, stops, onError), RewardNames: set.Names(),
		Generations: r.Generations, MaxCompletion: grpoCompletion(r), Temperature: r.Temperature, StopTokens: stops, KLBeta: r.Beta}
	return train.RunGRPO(ctx, m, train.GRPOData{Prompts: ids}, gc)
}

func grpoCompletion(r Recipe) int {
	if r.MaxCompletion > 0 {
		return r.MaxCompletion
	}
	return DefaultMaxCompletion
}

// loadTrainData reads the training data: a grpo dataset's prompts (held
// in memory with the columns its rewards read), or any other type's token
// store (see loadDataset).
func loadTrainData(ctx context.Context, spec Spec, tok *tokenizer.Tokenizer, vocab, maxLen int, cache data.TokenCache, progress func(data.TokenProgress)) (*dataset, error) {
	if spec.TaskType != crucible.TaskGRPO {
		return loadDataset(ctx, dataSpec{Path: spec.DataPath, Type: spec.TaskType, Mapping: spec.Mapping, ModelDir: spec.ModelDir, Tok: tok, Vocab: vocab,
			MaxLen: maxLen, Tokens: spec.TokensPath, Cache: cache, Progress: progress})
	}
	var given crucible.ColumnMapping
	if spec.Mapping != nil {
		given = *spec.Mapping
	}
	_, m, reason, err := data.Settle(spec.DataPath, crucible.TaskGRPO, given)
	if err != nil {
		return nil, err
	}
	d, err := loadGRPO(spec.DataPath, m, reason, tok, maxLen, grpoCompletion(spec.Recipe))
	if err != nil {
		return nil, err
	}
	if d.DataSHA256, err = data.DatasetSHA256(ctx, spec.DataPath); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "train: read %s", spec.DataPath)
	}
	return d, nil
}

// CheckGRPOTask is the check a grpo task passes at creation, before
// anything is stored: its rewards compile, and on the dataset's first n
// rows (0: grpoSampleRows) every reward runs on the probe completions and
// every prompt leaves the base model room for a completion of
// DefaultMaxCompletion tokens. Errors are EINVALID and name the reward,
// its line and the row.
func CheckGRPOTask(path string, mapping *crucible.ColumnMapping, rewards []crucible.Reward, modelDir string, n int) error {
	if n <= 0 {
		n = grpoSampleRows
	}
	set, err := reward.Compile(rewards)
	if err != nil {
		return err
	}
	var given crucible.ColumnMapping
	if mapping != nil {
		given = *mapping
	}
	_, m, _, err := data.Settle(path, crucible.TaskGRPO, given)
	if err != nil {
		return err
	}
	f, err := data.NewFormatter(crucible.TaskGRPO, m)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Load(modelDir)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "load the base tokenizer")
	}
	cfg, err := model.ReadConfig(modelDir)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "read the base model's config")
	}
	maxPrompt := maxLength(cfg, math.MaxInt32) - DefaultMaxCompletion
	r, err := data.Open(path)
	if err != nil {
		return err
	}
	defer r.Close()
	var samples []reward.Sample
	for len(samples) < n {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return crucible.Wrap(err, crucible.EINVALID, "read the dataset")
		}
		ex, err := f.Example(row)
		if err != nil {
			return crucible.Wrap(err, crucible.EINVALID, "read the dataset")
		}
		if ex.Empty() {
			continue
		}
		if k := len(data.TokenizePrompt(tok, ex)); maxPrompt > 0 && k > maxPrompt {
			return crucible.Errorf(crucible.EINVALID, "%s: the prompt has %d tokens; the base model leaves room for %d with a completion of %d", ex.Pos, k, maxPrompt, DefaultMaxCompletion)
		}
		samples = append(samples, reward.Sample{Where: ex.Pos.String(), Prompt: ex.Prompt, Extra: ex.Extra})
	}
	if len(samples) == 0 {
		return crucible.Errorf(crucible.EINVALID, "%s: no prompts to check the rewards on", path)
	}
	if errs := set.Check(samples, 10); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return crucible.Errorf(crucible.EINVALID, "the rewards fail on the dataset's rows: %s", strings.Join(msgs, "; ")).
			WithHint("fix the reward (or the rows it names) and create the task again")
	}
	return nil
}
