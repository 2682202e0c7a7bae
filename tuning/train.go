package tuning

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
	"github.com/crucible-net/crucible/ml/train"
)

// Spec says what to fine-tune on what, and by when.
type Spec struct {
	ModelDir string // the base model, Hugging Face layout
	// BaseModel names the base in the model card and adapter config;
	// defaults to the model directory's name.
	BaseModel string
	DataPath  string            // a dataset file or directory in any format package data reads
	TaskType  crucible.TaskType // empty: detected
	Mapping   *crucible.ColumnMapping
	// Rewards are a grpo task's reward functions (required for grpo).
	Rewards []crucible.Reward
	OutDir  string // created; must not exist or be empty
	// Deadline is when the output must be complete; Budget is used when
	// Deadline is zero (from the call). One of the two is required.
	Deadline time.Time
	Budget   time.Duration
	// ComputeRate, when positive, makes the time budget one of compute
	// (train.ComputeClock): training may do Budget's worth of work at this
	// nominal rate in GFLOP/s (when Budget is zero: the time until
	// Deadline), however long that takes on this machine, so that the run
	// is the same on a loaded machine as on a quiet one. Deadline then
	// only bounds the real time (none when it is zero). GRPO runs, whose
	// sampling cost is not modelled, keep the real clock.
	ComputeRate float64
	Recipe      Recipe
	Seed        uint64
	// WorkDir holds checkpoints; defaults to OutDir + ".work", removed
	// after a successful run.
	WorkDir string
	// Resume continues from the latest checkpoint in WorkDir, when there is
	// one (a run that was killed): same model, data, recipe and Seed.
	Resume bool
	// TokenCache is the directory of tokenized datasets reused across runs
	// (see data.TokenCache); empty keeps the tokens in WorkDir for this run
	// (and its resumption) only.
	TokenCache string
	// TokensPath, when set, is a token store to train on instead of
	// tokenizing DataPath (written for this model's tokenizer, e.g. by
	// crucible data tokenize); DataPath may then be empty.
	TokensPath string
	// Memory is the bytes training may use; defaults to 60% of the
	// memory available.
	Memory int64
	// MetricsPath, when set, also receives the per-step metrics (JSONL);
	// they are always written to OutDir/metrics.jsonl.
	MetricsPath string
	// Log receives human-readable lines (choices, validations).
	Log func(msg string)

	// clock, in tests, is the clock training's deadline decisions read
	// (train.Config.Clock); nil means time.Now.
	clock func() time.Time
}

// Progress reports a running training job (as miner.Progress does).
type Progress struct {
	Fraction float64  // 0..1
	Step     int      // optimizer steps done
	Loss     *float64 // latest training loss
	Reward   *float64 // grpo: the latest mean reward of the samples
	Message  string
}

// Result describes a finished training job.
type Result struct {
	OutDir     string            `json:"out_dir"`
	IsAdapter  bool              `json:"is_adapter"`
	BaseModel  string            `json:"base_model"`
	TaskType   crucible.TaskType `json:"task_type"`
	Mapping    crucible.ColumnMapping
	DataSHA256 string             `json:"data_sha256"`
	Tokenize   data.TokenizeStats `json:"tokenize"`
	Recipe     Recipe             `json:"recipe"`
	Settings   Settings           `json:"settings"`
	Choices    []train.Choice     `json:"choices"`
	Train      *train.Result      `json:"train"`
	GRPO       *train.GRPOResult  `json:"grpo,omitempty"` // a grpo run's rewards and costs (Train is its Result)
	Duration   time.Duration      `json:"duration_ns"`
}

// saveRate is a conservative disk write speed for budgeting the final save.
const saveRate = 100 << 20

// Train fine-tunes spec.ModelDir on spec.DataPath and writes the result to
// spec.OutDir before the deadline. Errors are crucible errors: EINVALID
// for bad input (no usable rows, a budget too small for one step, an
// output directory that cannot be written), EINTERNAL otherwise.
func Train(ctx context.Context, spec Spec, report func(Progress)) (*Result, error) {
	start := time.Now()
	if report == nil {
		report = func(Progress) {}
	}
	logf := func(format string, args ...any) {
		if spec.Log != nil {
			spec.Log(fmt.Sprintf(format, args...))
		}
	}
	deadline := spec.Deadline
	if deadline.IsZero() && spec.Budget <= 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "train: a deadline or a time budget is required")
	}
	computeBudget := spec.Budget
	if computeBudget <= 0 {
		computeBudget = deadline.Sub(start)
	}
	if deadline.IsZero() && spec.ComputeRate <= 0 {
		deadline = start.Add(spec.Budget)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if err := spec.Recipe.Check(); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "train")
	}
	if spec.ModelDir == "" || (spec.DataPath == "" && spec.TokensPath == "") || spec.OutDir == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "train: model directory, dataset (or token file) and output directory are required")
	}
	tmp, err := prepareOut(spec.OutDir)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	work := spec.WorkDir
	if work == "" {
		work = filepath.Clean(spec.OutDir) + ".work"
	}
	report(Progress{Message: "loading the base model and the dataset"})
	tok, err := tokenizer.Load(spec.ModelDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "train: load the base tokenizer")
	}
	m, err := model.Load(spec.ModelDir)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "train: load the base model")
	}
	cfg := m.Config()
	for _, note := range cfg.Notes() {
		logf("model config: %s", note)
	}
	capLen := spec.Recipe.MaxLength
	if capLen <= 0 {
		capLen = 1024
	}
	maxLen := maxLength(cfg, capLen)
	if spec.TaskType == "" && len(spec.Rewards) > 0 {
		spec.TaskType = crucible.TaskGRPO
	}
	if spec.TaskType != crucible.TaskGRPO && len(spec.Rewards) > 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "train: reward functions are for grpo tasks, not %s tasks", spec.TaskType)
	}
	if spec.TaskType == crucible.TaskGRPO && len(spec.Rewards) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "train: a grpo task needs at least one reward function").
			WithHint("name a built-in with --reward (e.g. --reward numeric_answer) or give a Starlark file with --reward-file")
	}
	// Tokenizing counts against the deadline (less the time the save needs
	// at the least).
	dctx, cancel := context.WithCancel(ctx)
	if !deadline.IsZero() {
		dctx, cancel = context.WithDeadline(ctx, deadline.Add(-time.Second))
	}
	ds, err := loadTrainData(dctx, spec, tok, cfg.Vocab, maxLen, tokenCache(spec.TokenCache, work, spec.Log), tokenProgress(report, logf))
	cancel()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, crucible.Errorf(crucible.EINVALID, "train: time budget too small: it ran out while tokenizing %s", spec.DataPath).
				WithHint("give the job more time; the tokens are not kept, so a second run starts over")
		}
		return nil, err
	}
	defer ds.Close()
	switch {
	case ds.Store != nil && ds.Cached:
		logf("tokens: %s (%d sequences, %d tokens), tokenized before", ds.Store.Path(), ds.Store.Len(), ds.Store.Meta().Tokens)
	case ds.Store != nil:
		logf("tokens: %s (%d rows, %d sequences, %d tokens) in %s", ds.Store.Path(), ds.Rows, ds.Store.Len(), ds.Store.Meta().Tokens, time.Since(start).Round(time.Millisecond))
	}
	sum := ds.DataSHA256
	base := spec.BaseModel
	if base == "" {
		base = filepath.Base(filepath.Clean(spec.ModelDir))
	}
	res := &Result{BaseModel: base, TaskType: ds.Type, Mapping: ds.Mapping, DataSHA256: sum, Tokenize: ds.Stats, Recipe: spec.Recipe}
	choose := func(c train.Choice) {
		res.Choices = append(res.Choices, c)
		logf("%s = %v: %s", c.Name, c.Value, c.Reason)
	}
	why := ds.Reason
	if why == "" {
		why = "as given"
	}
	choose(train.Choice{Name: "task", Value: string(ds.Type), Reason: why})
	choose(train.Choice{Name: "max length", Value: maxLen, Reason: fmt.Sprintf("tokens per sequence: the model's context %d, capped at %d; %d of %d examples truncated, %d dropped", cfg.MaxPositions, capLen, ds.Stats.Truncated, ds.Stats.Examples, ds.Stats.Dropped)})

	examples := ds.Examples
	setup, err := setupModel(m, spec, ds, base, choose)
	if err != nil {
		return nil, err
	}
	res.IsAdapter = setup.LoRA && !spec.Recipe.Merge

	// Reserve time for the final save (and merge), written at a
	// conservative disk speed, plus a margin.
	saveBytes := int64(4 * m.NumParams())
	if res.IsAdapter {
		saveBytes = int64(4 * len(m.LoRA().Params()))
	}
	reserve := time.Second + time.Duration(float64(saveBytes)/saveRate*float64(time.Second))*2
	choose(train.Choice{Name: "save reserve", Value: reserve.Round(time.Millisecond).String(), Reason: fmt.Sprintf("time kept before the deadline to write %.1f MB", float64(saveBytes)/1e6)})
	if !deadline.IsZero() && time.Until(deadline) < reserve {
		return nil, crucible.Errorf(crucible.EINVALID, "train: time budget too small: %s left after loading, the save alone needs %s", time.Until(deadline).Round(time.Millisecond), reserve.Round(time.Millisecond))
	}

	metrics, err := openMetrics(tmp, spec)
	if err != nil {
		return nil, err
	}
	defer metrics.Close()
	tc := train.Config{
		LR: spec.Recipe.LR, Epochs: spec.Recipe.Epochs, MaxSteps: spec.Recipe.MaxSteps, Beta: spec.Recipe.Beta,
		Schedule: spec.Recipe.Schedule, WarmupRatio: engineRatio(spec.Recipe.WarmupRatio), MinLRRatio: engineRatio(spec.Recipe.MinLRRatio),
		WeightDecay: engineRatio(spec.Recipe.WeightDecay),
		BatchSize:   setup.BatchSize, GradAccum: setup.GradAccum, MaxBatchTokens: setup.MaxBatchTokens,
		CheckpointDir: work, CheckpointEvery: checkpointEvery(deadline), Deadline: deadline, Reserve: reserve, Clock: spec.clock,
		Seed: spec.Seed, Metrics: metrics.w, Log: spec.Log, Precision: spec.Recipe.Precision,
		Progress: func(p train.Progress) {
			l := p.Loss
			report(Progress{Fraction: 0.05 + 0.9*p.Fraction, Step: p.Step, Loss: &l, Message: fmt.Sprintf("step %d/%d loss %.4f, %.0f tokens/s", p.Step, p.TotalSteps, p.Loss, p.TokensPerS)})
		},
	}
	switch {
	case spec.ComputeRate > 0 && ds.Type != crucible.TaskGRPO:
		clock := train.NewComputeClock(time.Now(), spec.ComputeRate)
		tc.Compute, tc.Deadline, tc.Reserve = clock, clock.Now().Add(computeBudget), 0
		tc.CheckpointEvery = max(30*time.Second, computeBudget/5)
		choose(train.Choice{Name: "budget clock", Value: "compute", Reason: fmt.Sprintf("%s of compute at a nominal %g GFLOP/s: every time decision reads the estimated work done, not the clock, so the run is the same whatever the machine's load", computeBudget, clock.GFLOPS())})
	case spec.ComputeRate > 0:
		if tc.Deadline.IsZero() {
			tc.Deadline = start.Add(computeBudget)
		}
		choose(train.Choice{Name: "budget clock", Value: "wall", Reason: "grpo's sampling cost is not modelled by the compute clock: the real clock"})
	}
	if spec.Resume {
		if ck := train.LatestCheckpoint(work); ck != "" {
			tc.Resume = ck
			choose(train.Choice{Name: "resume", Value: ck, Reason: "the latest checkpoint of the interrupted run"})
		}
	}
	var td train.Data
	if ds.Store != nil {
		tc.DataID = ds.Store.Meta().SHA256
		td = train.Data{Source: ds.Store, SourcePairs: ds.Type == crucible.TaskDPO}
	}
	report(Progress{Fraction: 0.05, Message: fmt.Sprintf("training on %d examples", examples)})
	var tr *train.Result
	if ds.Type == crucible.TaskGRPO {
		tc.Resume = "" // GRPO runs write no checkpoints
		var gr *train.GRPOResult
		if gr, err = runGRPO(ctx, m, tok, spec, ds, tc, choose, report); gr != nil {
			res.GRPO, tr = gr, &gr.Result
		}
	} else {
		tr, err = train.Run(ctx, m, td, tc)
	}
	if err != nil {
		if crucible.ErrorCode(err) == crucible.EINVALID {
			return nil, err
		}
		if errors.Is(err, train.ErrBudget) {
			return nil, crucible.Wrap(err, crucible.EINVALID, "train").WithHint("give the job more time, or use a smaller model")
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "train")
	}
	res.Train = tr
	res.Settings = settingsOf(setup, tc, tr, maxLen, m)
	for _, c := range tr.Choices {
		res.Choices = append(res.Choices, c)
	}
	if err := metrics.Flush(); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "train: write metrics")
	}
	report(Progress{Fraction: 0.96, Step: tr.Steps, Message: "saving"})
	res.Duration = time.Since(start)
	if err := finishOutput(m, tmp, spec, res); err != nil {
		return nil, err
	}
	ok = true
	res.OutDir = spec.OutDir
	os.RemoveAll(work)
	report(Progress{Fraction: 1, Step: tr.Steps, Message: "done"})
	return res, nil
}

// Settings are the hyperparameters a run trained with once every
// automatic choice was made: what its training.json tells the network
// (and other miners) about how the result was made.
type Settings struct {
	Mode        string  `json:"mode"` // "lora" or "full"
	LoRARank    int     `json:"lora_rank,omitempty"`
	LoRAAlpha   float64 `json:"lora_alpha,omitempty"`
	LR          float64 `json:"lr"`
	Epochs      float64 `json:"epochs"`     // passes over the data that ran
	BatchSize   int     `json:"batch_size"` // sequences per micro-batch
	GradAccum   int     `json:"grad_accum"` // micro-batches per optimizer step
	Schedule    string  `json:"schedule"`
	WarmupRatio float64 `json:"warmup_ratio"`
	MinLRRatio  float64 `json:"min_lr_ratio"`
	WeightDecay float64 `json:"weight_decay"`
	MaxLength   int     `json:"max_length"`
	Precision   string  `json:"precision"`
	Steps       int     `json:"steps"`
}

func settingsOf(setup train.Setup, tc train.Config, tr *train.Result, maxLen int, m *model.Model) Settings {
	eff := tc.Effective()
	st := Settings{Mode: "full", LR: tr.LR, Epochs: round(tr.Epochs), BatchSize: eff.BatchSize, GradAccum: eff.GradAccum,
		Schedule: eff.Schedule, WarmupRatio: eff.WarmupRatio, MinLRRatio: eff.MinLRRatio, WeightDecay: eff.WeightDecay,
		MaxLength: maxLen, Precision: m.Precision().String(), Steps: tr.Steps}
	if l := m.LoRA(); setup.LoRA && l != nil {
		st.Mode, st.LoRARank, st.LoRAAlpha = "lora", l.Config().Rank, l.Config().Alpha
	}
	return st
}

// setupModel picks the training setup (recipe fields win) and prepares
// the model for it: a LoRA adapter attached, or the base made trainable.
func setupModel(m *model.Model, spec Spec, ds *dataset, base string, choose func(train.Choice)) (train.Setup, error) {
	mem := spec.Memory
	if mem <= 0 {
		mem = availableMemory() * 6 / 10
	}
	setup, err := train.ChooseSetup(train.SetupFacts{Model: m.Config(), Params: m.NumParams(), Examples: ds.Examples, MaxLen: ds.MaxLen,
		Memory: mem, DPO: ds.Type == crucible.TaskDPO || ds.Type == crucible.TaskGRPO, LoRA: spec.Recipe.LoRA, BatchSize: spec.Recipe.BatchSize, GradAccum: spec.Recipe.GradAccum})
	if err != nil {
		return setup, crucible.Wrap(err, crucible.EINVALID, "train")
	}
	for _, c := range setup.Choices {
		choose(c)
	}
	if !setup.LoRA {
		m.SetTrainBase(true)
		return setup, nil
	}
	lc := setup.LoRAConfig
	if spec.Recipe.LoRARank > 0 {
		lc.Rank = spec.Recipe.LoRARank
		lc.Alpha = float64(2 * lc.Rank)
	}
	if spec.Recipe.LoRAAlpha > 0 {
		lc.Alpha = spec.Recipe.LoRAAlpha
	}
	if spec.Recipe.LoRADropout != nil {
		lc.Dropout = *spec.Recipe.LoRADropout
	}
	lc.Seed, lc.BaseModel = spec.Seed, base
	if _, err := m.AddLoRA(lc); err != nil {
		return setup, crucible.Wrap(err, crucible.EINVALID, "train: attach LoRA")
	}
	return setup, nil
}

// metricsOut writes the per-step metrics to OutDir/metrics.jsonl and,
// when asked, to a second file.
type metricsOut struct {
	files []*os.File
	bufs  []*bufio.Writer
	w     io.Writer
}

func openMetrics(dir string, spec Spec) (*metricsOut, error) {
	paths := []string{filepath.Join(dir, "metrics.jsonl")}
	if spec.MetricsPath != "" {
		paths = append(paths, spec.MetricsPath)
	}
	mo := &metricsOut{}
	var ws []io.Writer
	for _, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			mo.Close()
			return nil, crucible.Wrap(err, crucible.EINVALID, "train: metrics file %s", p)
		}
		b := bufio.NewWriter(f)
		mo.files, mo.bufs, ws = append(mo.files, f), append(mo.bufs, b), append(ws, b)
	}
	mo.w = io.MultiWriter(ws...)
	return mo, nil
}

// Flush writes out what is buffered.
func (mo *metricsOut) Flush() error {
	for _, b := range mo.bufs {
		if err := b.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Close closes the files (after Flush).
func (mo *metricsOut) Close() {
	for _, f := range mo.files {
		f.Close()
	}
}

// finishOutput saves the model, the tokenizer and the model card into the
// temporary directory tmp and renames it to spec.OutDir.
func finishOutput(m *model.Model, tmp string, spec Spec, res *Result) error {
	if err := saveOutput(m, tmp, spec.ModelDir, res); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "train: save the result to %s", spec.OutDir)
	}
	if err := writeCard(tmp, spec, res); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "train: write the model card")
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "train: output directory %s", spec.OutDir)
	}
	if err := os.Rename(tmp, spec.OutDir); err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "train: move the result into %s", spec.OutDir)
	}
	return nil
}

// checkpointEvery spaces checkpoints to about five per run, at least 30s
// apart.
func checkpointEvery(deadline time.Time) time.Duration {
	if deadline.IsZero() {
		return 5 * time.Minute
	}
	return max(30*time.Second, time.Until(deadline)/5)
}

// prepareOut checks that out can be created (it must not exist, or be an
// empty directory) and returns a fresh temporary directory beside it that
// the result is written to and then renamed.
func prepareOut(out string) (string, error) {
	if st, err := os.Stat(out); err == nil && !st.IsDir() {
		return "", crucible.Errorf(crucible.EINVALID, "train: output directory %s is a file, not a directory", out).
			WithHint("name a new directory for the result")
	}
	if ents, err := os.ReadDir(out); err == nil {
		if len(ents) > 0 {
			return "", crucible.Errorf(crucible.EINVALID, "train: output directory %s exists and is not empty", out).
				WithHint("name a new directory for the result, or remove this one first")
		}
		if err := os.Remove(out); err != nil {
			return "", crucible.Wrap(err, crucible.EINVALID, "train: output directory %s", out)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", crucible.Wrap(err, crucible.EINVALID, "train: output directory %s", out)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", crucible.Wrap(err, crucible.EINVALID, "train: output directory %s cannot be created", out)
	}
	// Temporary directories of earlier runs for this output that were
	// killed before renaming are removed.
	if stale, _ := filepath.Glob(filepath.Join(parent, "."+filepath.Base(out)+".tmp*")); len(stale) > 0 {
		for _, d := range stale {
			os.RemoveAll(d)
		}
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp")
	if err != nil {
		return "", crucible.Wrap(err, crucible.EINVALID, "train: output directory %s is not writable", out)
	}
	return tmp, nil
}

// saveOutput writes the trained model (an adapter, or a full model with
// any adapter merged) and the base's tokenizer files into dir.
func saveOutput(m *model.Model, dir, baseDir string, res *Result) error {
	if res.IsAdapter {
		if err := m.SaveAdapter(dir); err != nil {
			return err
		}
	} else {
		if m.LoRA() != nil {
			if err := m.MergeLoRA(); err != nil {
				return err
			}
		}
		if err := m.Save(dir); err != nil {
			return err
		}
	}
	return copyTokenizer(baseDir, dir)
}

// availableMemory reads MemAvailable from /proc/meminfo (4 GiB elsewhere).
func availableMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if n, _ := fmt.Sscanf(line, "MemAvailable: %d kB", &kb); n == 1 {
				return kb << 10
			}
		}
	}
	return 4 << 30
}

// jsonNum makes NaN and ±Inf JSON-safe (null).
func jsonNum(x float64) any {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return x
}
