// Package experiment reproduces, on crucible, the two experiments the
// reference network made its case with:
//
//   - a series (RunSeries): N successive competitions on one base model and
//     dataset, on the same hidden test split, with miners that learn
//     (adaptive) carrying their history from round to round; the winner's
//     test loss per round against the base's and a reference line (the base
//     tuned on another instruct dataset, as the report used the vendor's
//     instruct model);
//   - a platform comparison (RunPlatforms): the network's winner against
//     recipes that copy each managed platform's zero-configuration defaults
//     (tuning.Platforms) and crucible train --recipe auto, each run with
//     the compute of one miner, on the same hidden split.
//
// Both run a whole network in this process (node/localnet), by default with
// the miners taking turns on the machine (miner.Turns), and write a report
// folder: results.json (api.ExperimentResults: every number, the command,
// versions, the machine), report.md and the charts as SVG and PNG. The
// results are saved after every step: an interrupted experiment run again
// with the same folder resumes where it stopped.
package experiment

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/ml/train"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
	"github.com/crucible-net/crucible/resultlog"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Common are the settings both experiments share. Each field's doc
// comment is its documentation and states its default (package config).
type Common struct {
	// Dir is the report folder: results.json, report.md, the charts, and
	// the network's state (net/, the miners' histories among it). Running
	// again with the same folder resumes an interrupted experiment.
	// Required.
	Dir string `flag:"dir"`
	// Assets is the directory of the shipped assets (models/, datasets/);
	// when it holds none, the copy inside the binary is used. Defaults to
	// `assets`.
	Assets string `flag:"assets"`
	// Model is the base model: a shipped model's name or a directory.
	// Defaults to `crucible-tiny`.
	Model string `flag:"model"`
	// Dataset is the instruct dataset the competitions are on: a file or a
	// shipped dataset's name (facts, definitions, arithmetic); empty means
	// the shipped facts set.
	Dataset string `flag:"dataset"`
	// Budget is each miner's training time (and each single run's).
	// Defaults to `2m`.
	Budget time.Duration `flag:"budget"`
	// BudgetClock is what Budget measures: compute (work: each step's,
	// validation's and probe's estimated floating-point operations at the
	// nominal ComputeRate, so that the results are the same whatever else
	// the machine does, and the same each time for a seed) or wall (real
	// time, which on a shared machine measures its load). Defaults to
	// `compute`.
	BudgetClock string `flag:"budget-clock"`
	// ComputeRate is the compute clock's nominal speed in GFLOP/s: a
	// budget of compute buys the work this rate does in that time (the
	// default is about what crucible's engine sustains training the
	// shipped model on a quiet two-core machine). Defaults to `150`.
	ComputeRate float64 `flag:"compute-rate"`
	// Strategies are the network's miners' strategies, one miner each.
	// Defaults to `adaptive,adaptive,auto`.
	Strategies []string `flag:"strategies"`
	// Miners is how the miners share this machine: sequential (one after
	// another, each alone for the budget, as miners with their own hardware
	// would) or parallel (all at once, sharing the cores). Defaults to
	// `sequential`.
	Miners string `flag:"miners"`
	// TestRows caps the hidden test split (rows). Defaults to `200`.
	TestRows int `flag:"test-rows"`
	// Seed fixes the network's keys, the miners' seeds and every single
	// run's. Defaults to `1`.
	Seed uint64 `flag:"seed"`
	// Serve keeps the network's validator serving its dashboard (with the
	// experiment's page) when the experiment is done, until Ctrl-C.
	Serve bool `flag:"serve"`
	// Listen is the address of the validator's API and dashboard. Defaults
	// to `127.0.0.1:0`.
	Listen string `flag:"listen"`
	// Verbose logs every step of every node.
	Verbose bool `flag:"verbose"`

	// Command and Version are recorded in results.json (set by the
	// command line).
	Command string `json:"-"`
	Version string `json:"-"`
}

func (c *Common) check() error {
	switch {
	case c.Dir == "":
		return crucible.Errorf(crucible.EINVALID, "--dir is required: the report folder").WithHint("e.g. --dir experiments/series")
	case c.Budget < 2*time.Second:
		return crucible.Errorf(crucible.EINVALID, "--budget %s: at least 2s", c.Budget)
	case len(c.Strategies) == 0:
		return crucible.Errorf(crucible.EINVALID, "--strategies: at least one miner")
	case c.TestRows < 1:
		return crucible.Errorf(crucible.EINVALID, "--test-rows %d: at least 1", c.TestRows)
	case c.BudgetClock != ClockCompute && c.BudgetClock != ClockWall:
		return crucible.Errorf(crucible.EINVALID, "--budget-clock %q: compute or wall", c.BudgetClock)
	case c.BudgetClock == ClockCompute && !(c.ComputeRate > 0 && c.ComputeRate < 1e9):
		return crucible.Errorf(crucible.EINVALID, "--compute-rate %g: a positive number of GFLOP/s", c.ComputeRate)
	}
	return localnet.CheckMinersMode(c.Miners)
}

// Budget clocks (Common.BudgetClock).
const (
	ClockCompute = "compute"
	ClockWall    = "wall"
)

// normalize fills the budget clock's settings a caller left zero (a
// Common built in code rather than from flags): the compute clock at its
// default rate.
func (c *Common) normalize() {
	if c.BudgetClock == "" {
		c.BudgetClock = ClockCompute
	}
	if c.BudgetClock == ClockCompute && c.ComputeRate == 0 {
		c.ComputeRate = train.DefaultComputeRate
	}
}

// computeRate is the nominal GFLOP/s of a compute budget; 0 on the wall
// clock.
func (c *Common) computeRate() float64 {
	if c.BudgetClock == ClockCompute {
		return c.ComputeRate
	}
	return 0
}

// env is what both experiments set up: the assets, the base model and the
// datasets, the report folder and its results.
type env struct {
	cfg     Common
	assets  string // the assets directory (extracted when needed)
	base    string // the base model's directory
	dataset string // the competitions' dataset file
	res     *api.ExperimentResults
	start   time.Time
	spent   float64 // seconds of earlier attempts
	w       io.Writer
	log     *slog.Logger
}

func (e *env) say(format string, args ...any) { fmt.Fprintf(e.w, format+"\n", args...) }

// open resolves the model and dataset and loads the report folder's
// results: an interrupted experiment of the same kind and settings
// resumes; a folder holding another one is refused.
func open(cfg Common, kind string, settings any, w io.Writer) (*env, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	e := &env{cfg: cfg, w: w, start: time.Now()}
	level := slog.LevelError
	if cfg.Verbose {
		level = slog.LevelInfo
	}
	e.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "report folder %s", cfg.Dir)
	}
	e.assets = cfg.Assets
	if st, err := os.Stat(filepath.Join(e.assets, "models", "crucible-tiny", "config.json")); err != nil || st.IsDir() {
		e.assets = filepath.Join(cfg.Dir, "assets")
		if err := node.ExtractAssets(e.assets); err != nil {
			return nil, err
		}
	}
	models := node.NewModels(filepath.Join(e.assets, "models"))
	var err error
	if e.base, err = models.ResolveModel(context.Background(), cfg.Model); err != nil {
		return nil, crucible.Wrap(err, crucible.ENOTFOUND, "base model %q", cfg.Model).
			WithHint("name a shipped model (crucible-tiny) or a model directory with --model")
	}
	if e.dataset, err = e.datasetPath(cfg.Dataset, "facts.jsonl"); err != nil {
		return nil, err
	}
	set, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	e.res = &api.ExperimentResults{Kind: kind, Settings: set, Command: cfg.Command, Version: cfg.Version, Machine: machine(),
		Started: time.Now().UTC(), Model: cfg.Model, Dataset: filepath.Base(e.dataset), MinersMode: cfg.Miners,
		Miners: cfg.Strategies, Budget: cfg.Budget.Seconds(), BudgetClock: cfg.BudgetClock, ComputeRate: cfg.computeRate()}
	prev, err := loadResults(filepath.Join(cfg.Dir, resultsFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	case prev.Kind != kind || !sameJSON(prev.Settings, set):
		return nil, crucible.Errorf(crucible.ECONFLICT, "%s holds a %s experiment with other settings (%s)", cfg.Dir, prev.Kind, prev.Settings).
			WithHint("give a new --dir, or the same settings to resume it")
	default:
		e.say("resuming the experiment in %s (%d steps done)", cfg.Dir, len(prev.Rounds)+len(prev.Runs))
		prev.Command, prev.Version, prev.Machine.Load = cfg.Command, cfg.Version, append(prev.Machine.Load, loadAvg())
		prev.Finished = false
		e.res, e.spent = prev, prev.Seconds
	}
	return e, nil
}

// datasetPath resolves a dataset argument: a file, a shipped dataset's
// name (definitions, or definitions.jsonl), or empty for the shipped one
// named shipped.
func (e *env) datasetPath(arg, shipped string) (string, error) {
	p := arg
	if p == "" {
		p = filepath.Join(e.assets, "datasets", shipped)
	}
	isFile := func(p string) bool { st, err := os.Stat(p); return err == nil && !st.IsDir() }
	if !isFile(p) && arg != "" && !strings.ContainsAny(arg, `/\`) {
		for _, name := range []string{arg, arg + ".jsonl"} {
			if q := filepath.Join(e.assets, "datasets", name); isFile(q) {
				p = q
				break
			}
		}
	}
	if !isFile(p) {
		return "", crucible.Errorf(crucible.ENOTFOUND, "dataset %s not found", p).
			WithHint("pass a dataset file, or a shipped dataset's name (facts, definitions, arithmetic)")
	}
	return filepath.Abs(p)
}

const resultsFile = "results.json"

// sameJSON reports whether two JSON texts are the same apart from layout
// (results.json holds the settings indented).
func sameJSON(a, b []byte) bool {
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

func loadResults(path string) (*api.ExperimentResults, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r api.ExperimentResults
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "%s is not an experiment's results: %v", path, err).
			WithHint("give a new --dir")
	}
	return &r, nil
}

// save writes results.json atomically.
func (e *env) save() error {
	e.res.Updated = time.Now().UTC()
	e.res.Seconds = math.Round(e.spent + time.Since(e.start).Seconds())
	b, err := json.MarshalIndent(e.res, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(e.cfg.Dir, resultsFile), append(b, '\n'))
}

// writeFile writes a file through a temporary one renamed into place.
func writeFile(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// network starts the experiment's network in the report folder: its
// validator shows the experiments beside this one on its dashboard.
func (e *env) network(ctx context.Context) (*localnet.Net, error) {
	var turns *miner.Turns
	if e.cfg.Miners == localnet.MinersSequential {
		turns = miner.NewTurns(e.cfg.Budget)
		turns.ComputeRate = e.cfg.computeRate()
	}
	seed := e.cfg.Seed
	return localnet.Start(ctx, localnet.Config{
		Dir: filepath.Join(e.cfg.Dir, "net"), Models: filepath.Join(e.assets, "models"), Miners: e.cfg.Strategies,
		Seed: "crucible-experiment-" + strconv.FormatUint(seed, 10), Log: e.log, Turns: turns,
		Validator: func(c *validatornode.Config) {
			c.Listen, c.TestCap, c.OfferTimeout = e.cfg.Listen, e.cfg.TestRows, 10*time.Second
			c.Experiments = filepath.Dir(mustAbs(e.cfg.Dir))
		},
		Miner: func(i int, c *minernode.Config) {
			c.UploadMargin = min(10*time.Second, e.cfg.Budget/5)
			c.Seed = uint64(i) + 1 + 16*(seed-1) // distinct per miner; modulo 4 picks an adaptive miner's first recipe
		},
	})
}

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// compete runs one competition on the network and returns it as a round:
// every miner's loss, rank and published recipe, and why each adaptive
// miner chose its recipe. pending is a task of an earlier, interrupted
// attempt: finished, it is taken as it is; unfinished, it is canceled and
// the competition runs again.
func (e *env) compete(ctx context.Context, net *localnet.Net, round int, pending string, submitted func(taskID string) error) (*api.ExperimentRound, error) {
	v := net.Validator
	var done *crucible.Task
	if pending != "" {
		t, err := v.Store().FindTask(ctx, pending)
		switch {
		case err == nil && t.Status.Terminal():
			done = t
		case err == nil:
			e.say("  round %d: its task %s was interrupted; running it again", round, pending)
			if err := v.Cancel(ctx, pending, "the experiment was interrupted; the round runs again"); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
				return nil, err
			}
		}
	}
	start, load := time.Now(), loadAvg()
	if done == nil {
		budget := e.cfg.Budget
		if e.cfg.BudgetClock == ClockCompute {
			budget *= miner.ComputeSlack // a turn's real time is bounded by this
		}
		window := localnet.TaskWindow(e.cfg.Miners, len(net.Miners), budget)
		task := &crucible.Task{ID: taskID(e.cfg.Seed, round, pending), Type: crucible.TaskInstruct, Model: e.cfg.Model, Dataset: e.dataset, HoursToComplete: window.Hours(), IsOrganic: true}
		if err := v.Submit(ctx, task); err != nil {
			return nil, err
		}
		if err := submitted(task.ID); err != nil {
			return nil, err
		}
		var err error
		done, err = net.Follow(ctx, task.ID, func(ev *crucible.TaskEvent) {
			if ev.Kind == crucible.EventStatus || strings.Contains(ev.Message, "test loss") || strings.HasPrefix(ev.Message, "training with") {
				e.log.Info(ev.Message, "task", task.ID, "miner", net.Names[ev.Hotkey])
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return e.roundOf(ctx, net, round, done, time.Since(start).Seconds(), load)
}

// taskID is a round's task id: a function of the seed and the round (and
// of the task it replaces, when an interrupted round runs again), so that
// everything the miners derive from it (the adaptive search's seed, the
// validator's draw) is the same each time the experiment runs.
func taskID(seed uint64, round int, replaces string) string {
	h := sha256.Sum256(fmt.Appendf(nil, "crucible-experiment/%d/%d/%s", seed, round, replaces))
	h[6] = h[6]&0x0f | 0x40 // version 4
	h[8] = h[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// roundOf reads a finished competition's results.
func (e *env) roundOf(ctx context.Context, net *localnet.Net, round int, t *crucible.Task, seconds, load float64) (*api.ExperimentRound, error) {
	store := net.Validator.Store()
	r := &api.ExperimentRound{Round: round, TaskID: t.ID, Status: string(t.Status), Seconds: math.Round(seconds), Load: load, Finished: time.Now().UTC()}
	if rec, err := store.FindEvaluation(ctx, t.ID); err == nil {
		r.BaseLoss = rec.BaseLoss
	}
	published := map[string]*crucible.TrainingSummary{}
	rank := map[string]int{}
	if tr, err := e.logged(ctx, net, t.ID); err == nil && tr != nil {
		for _, m := range tr.Miners {
			published[m.Hotkey], rank[m.Hotkey] = m.Training, m.Rank
		}
	}
	subs, err := store.FindSubmissions(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for i, m := range net.Miners {
		hk := m.Key().Address()
		em := api.ExperimentMiner{Name: net.Names[hk], Hotkey: hk, Strategy: e.cfg.Strategies[i], Training: published[hk], Rank: rank[hk]}
		em.Failure = "did not take part"
		for _, s := range subs {
			if s.Hotkey == hk {
				em.Loss, em.Failure = s.TestLoss, s.Failure
			}
		}
		if a := m.Adaptive(); a != nil {
			if tr, ok := a.History().Trial(t.ID); ok {
				em.Choice = tr.Reason
			}
		}
		if hk == t.Winner {
			r.Winner, r.WinnerLoss = em.Name, em.Loss
		}
		r.Miners = append(r.Miners, em)
	}
	return r, nil
}

// logged returns a task's entry of the validator's results log.
func (e *env) logged(ctx context.Context, net *localnet.Net, taskID string) (*resultlog.TaskResult, error) {
	entries, err := net.Validator.Store().FindResults(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	tasks, _, err := resultlog.Decode(entries)
	if err != nil {
		return nil, err
	}
	for i := range tasks {
		if tasks[i].TaskID == taskID {
			return &tasks[i], nil
		}
	}
	return nil, nil
}

// splits copies a finished task's hidden test split and train split out of
// the validator's blobs into the report folder, for the single runs and
// the reference, and returns their paths and how to read them.
func (e *env) splits(ctx context.Context, net *localnet.Net, t *crucible.Task) (train, test string, mapping crucible.ColumnMapping, err error) {
	v := net.Validator
	rec, err := v.Store().FindEvaluation(ctx, t.ID)
	if err != nil {
		return "", "", mapping, err
	}
	if rec.SplitMapping != nil {
		mapping = *rec.SplitMapping
	}
	dir := filepath.Join(e.cfg.Dir, "splits")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", mapping, err
	}
	copyBlob := func(key, name string) (string, error) {
		rc, err := v.Blobs().Get(ctx, key)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return "", err
		}
		p := filepath.Join(dir, name)
		return p, writeFile(p, b)
	}
	if train, err = copyBlob(t.TrainData, "train.jsonl"); err != nil {
		return "", "", mapping, err
	}
	if test, err = copyBlob(t.TestData, "test.jsonl"); err != nil {
		return "", "", mapping, err
	}
	return train, test, mapping, nil
}

// machine describes this machine.
func machine() api.Machine {
	m := api.Machine{Cores: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(), Load: []float64{loadAvg()}}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// loadAvg is the 1-minute load average (0 where the system does not say).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}
