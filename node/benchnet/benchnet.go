package benchnet

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx", for the run's own schema

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
)

// Config is a run's size (crucible bench network's settings). Each field's
// doc comment is its documentation and states the default a command gets
// (package config); a field left zero when Run is called takes that
// default too, except StoreTasks (none).
type Config struct {
	// Miners is how many simulated miners join the network. Defaults to
	// `100`.
	Miners int `flag:"miners"`
	// Tasks is how many tasks go through the network, one after another.
	// Defaults to `10`.
	Tasks int `flag:"tasks"`
	// StoreTasks is how many finished tasks the store holds before the
	// load starts. Defaults to `10000`.
	StoreTasks int `flag:"store-tasks"`
	// Rate is the customer load, in API requests a second. Defaults to
	// `50`.
	Rate float64 `flag:"rate"`
	// Duration keeps tasks and load going this long when the tasks end
	// sooner: a soak, with memory read at its start, every minute and at
	// its end.
	Duration time.Duration `flag:"duration"`
	// DB is the validator's store: empty for SQLite in the run's
	// directory, or a postgres:// URL, in which the run makes a schema of
	// its own and drops it after.
	DB string `flag:"db"`
	// Dir keeps the run's state (every node's home and store) in this
	// directory; empty uses a temporary one, removed after.
	Dir string `flag:"dir"`
	// Hours is each task's training window, in hours. The miners upload
	// within seconds, so it only bounds a task that goes wrong. Defaults to
	// `0.05`.
	Hours float64 `flag:"hours"`
	// Poll is the validator's longest wait between two looks at a task
	// (its --poll); 0 keeps the validator's default.
	Poll time.Duration `flag:"poll"`
	// HeapProfiles writes a heap profile (pprof format, after a
	// collection) into this directory at each memory reading of the load:
	// heap-000m.pb.gz at its start, then one a minute and heap-end.pb.gz,
	// so that growth over a soak can be traced (go tool pprof -base). It
	// samples allocations more finely than the default, which costs some
	// speed.
	HeapProfiles string `flag:"heap-profiles"`
	// JSON prints the report as one JSON object.
	JSON bool `flag:"json"`
	// Progress receives a line per step and task; nil discards them.
	Progress io.Writer `json:"-"`
}

// Validate checks a command's settings.
func (c *Config) Validate() error {
	if c.Miners < 1 || c.Tasks < 1 || c.StoreTasks < 0 || !(c.Rate > 0) || !(c.Hours > 0) || c.Duration < 0 || c.Poll < 0 {
		return crucible.Errorf(crucible.EINVALID, "bench network: --miners and --tasks must be at least 1, --store-tasks, --duration and --poll not negative, --rate and --hours above 0")
	}
	return nil
}

func (c *Config) defaults() {
	if c.Miners <= 0 {
		c.Miners = 100
	}
	if c.Tasks <= 0 {
		c.Tasks = 10
	}
	c.StoreTasks = max(c.StoreTasks, 0)
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Hours <= 0 {
		c.Hours = 0.05
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
}

// TaskFigures are one task's times, from its status events.
type TaskFigures struct {
	ID     string
	Status crucible.TaskStatus
	// Start is from looking for miners to training: offers and answers,
	// start_training to each (the miners download, run their strategy and
	// upload meanwhile, most of them before the last is started).
	Start time.Duration
	// Collect is from training to evaluating: the last uploads, and the
	// validator taking them.
	Collect time.Duration
	// Score is from evaluating to the end: evaluations and ranking, the
	// results log.
	Score time.Duration
	// Training is the longest a miner's strategy took; Evaluation the
	// time the evaluator was busy with the task.
	Training, Evaluation time.Duration
	// Overhead is Start+Collect+Score less Training and Evaluation.
	Overhead time.Duration
}

// Report is what a run measured.
type Report struct {
	Config Config
	// DB names the store ("sqlite" or "postgres").
	DB string
	// Threads is the process's GOMAXPROCS during the run.
	Threads int
	// Seeding is how long filling the store took.
	Seeding time.Duration
	Tasks   []TaskFigures
	// Overhead summarises the tasks' overheads.
	Overhead Percentiles
	// API is the customer load's latency by route, and over all routes
	// ("all"); Errors counts failed requests by route.
	API       map[string]Percentiles
	Routes    []string // the routes in the order they were sent
	Errors    map[string]int
	FirstErr  string
	LoadFor   time.Duration // how long the load ran
	Sent      int           // requests answered or failed
	RSSStart  int64         // resident memory before the load, bytes; 0 where unknown
	RSSEnd    int64         // and after it
	HeapStart uint64        // the Go heap in use before the load (after a GC)
	HeapEnd   uint64        // and after it
	// Memory is read every minute of the load (and at its start and end),
	// so that a soak shows whether it levels off.
	Memory []MemorySample
}

// MemorySample is the process's memory at a moment of the load.
type MemorySample struct {
	After time.Duration // since the load began
	RSS   int64         // resident memory, bytes; 0 where unknown
	Heap  uint64        // the Go heap in use after a collection
}

// Run builds the network, seeds the store, runs the tasks under the
// customer load, and returns the figures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	out := cfg.Progress
	if cfg.HeapProfiles != "" {
		// Sample an allocation every 4 KiB (rather than 512 KiB), so that
		// the profiles of two minutes compare down to small growth.
		runtime.MemProfileRate = 4096
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "crucible-bench-network-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := &Report{Config: cfg, DB: "sqlite"}
	dbURL := ""
	if cfg.DB != "" {
		u, drop, err := ownSchema(ctx, cfg.DB)
		if err != nil {
			return nil, err
		}
		defer drop()
		dbURL, rep.DB = u, "postgres"
	}
	models := filepath.Join(dir, "models")
	if _, err := localnet.TinyModel(models, "tiny"); err != nil {
		return nil, err
	}
	dataset, err := localnet.SampleDataset(dir, assets.Facts, 200)
	if err != nil {
		return nil, err
	}

	// The validator runs in this process: it gets its spare threads, as
	// crucible validator does by default.
	defer validatornode.UseSpareThreads(validatornode.DefaultConfig().SpareThreads)()
	rep.Threads = runtime.GOMAXPROCS(0)

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	times := &trainTimes{}
	eval := &timedEvaluator{Evaluator: validatornode.EngineEvaluator{}}
	names := make([]string, cfg.Miners)
	for i := range names {
		names[i] = "instant"
	}
	fmt.Fprintf(out, "starting a validator (%s) and %d simulated miners in %s\n", rep.DB, cfg.Miners, dir)
	net, err := localnet.Start(ctx, localnet.Config{
		Dir: dir, Models: models, Miners: names, Seed: "crucible-bench-network",
		Strategy:  func(i int) miner.Strategy { return &instant{miner: i, times: times} },
		Evaluator: eval,
		Log:       slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelError})),
		Validator: func(c *validatornode.Config) {
			d := validatornode.DefaultConfig()
			c.Poll, c.Workers = d.Poll, d.Workers // the shipped defaults, not localnet's
			if cfg.Poll > 0 {
				c.Poll = cfg.Poll
			}
			c.DB, c.SyntheticEvery = dbURL, 0
			c.RatePerAddress, c.RatePerAccount = 1<<30, 1<<30 // the load comes from one address and account
		},
		Miner: func(_ int, c *minernode.Config) {
			c.RatePerAddress = 1 << 30
			// The simulated miners share the validator's process: each
			// forgets its finished jobs at its first sweep after their
			// deadline (a real miner keeps them 10 minutes more), so that
			// what they hold stays that of the last few minutes of tasks
			// and the memory read is the validator's growth, if any.
			c.KeepFinished = 0
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start the network: %w", err)
	}
	defer func() {
		stop()
		if werr := net.Wait(); werr != nil && !errors.Is(werr, context.Canceled) && err == nil {
			fmt.Fprintf(out, "stopping the network: %v\n", werr)
		}
	}()

	admin := api.NewClient(net.Validator.URL(), net.Validator.AdminKey())
	created, err := admin.CreateKey(ctx, api.CreateKeyRequest{Name: "bench", AccountName: "bench-customer", RateLimit: 1 << 30})
	if err != nil {
		return nil, fmt.Errorf("create the customer's key: %w", err)
	}
	customer := api.NewClient(net.Validator.URL(), created.Secret)
	f, err := os.Open(dataset)
	if err != nil {
		return nil, err
	}
	upload, err := customer.UploadDataset(ctx, "facts.jsonl", f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("upload the dataset: %w", err)
	}
	fmt.Fprintf(out, "seeding the store with %d finished tasks\n", cfg.StoreTasks)
	began := time.Now()
	seeded, err := seedTasks(ctx, net.Validator.Store(), created.Key.AccountID, upload.Ref(), cfg.StoreTasks, out)
	if err != nil {
		return nil, err
	}
	rep.Seeding = time.Since(began)
	var idsMu sync.Mutex
	ids := append([]string(nil), seeded...)
	taskIDs := func() []string {
		idsMu.Lock()
		defer idsMu.Unlock()
		return ids
	}

	// A first task warms the network up (models unpacked, connections
	// made) before memory is read and the load starts.
	fmt.Fprintf(out, "a first task to warm up\n")
	warm, err := runTask(ctx, net, customer, upload.Ref(), cfg.Hours)
	if err != nil {
		return nil, err
	}
	idsMu.Lock()
	ids = append(ids, warm)
	idsMu.Unlock()
	if len(taskIDs()) == 0 {
		return nil, errors.New("no task to read: the store is empty")
	}
	if cfg.HeapProfiles != "" {
		if err := os.MkdirAll(cfg.HeapProfiles, 0o755); err != nil {
			return nil, fmt.Errorf("--heap-profiles: %w", err)
		}
	}
	rep.RSSStart, rep.HeapStart = memory()
	if err := heapProfile(cfg.HeapProfiles, "000m"); err != nil {
		return nil, err
	}

	lat := &latencies{}
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	loadBegan := time.Now()
	rep.Memory = []MemorySample{{RSS: rep.RSSStart, Heap: rep.HeapStart}}
	go func() {
		defer close(loadDone)
		runLoad(lctx, customer, cfg.Rate, taskIDs, lat)
	}()
	stopAll := func() {
		stopLoad()
		<-loadDone
	}
	fmt.Fprintf(out, "%d tasks under a load of %g requests/s\n", cfg.Tasks, cfg.Rate)
	for n := 0; n < cfg.Tasks || time.Since(loadBegan) < cfg.Duration; n++ {
		id, err := runTask(ctx, net, customer, upload.Ref(), cfg.Hours)
		if err != nil {
			stopAll()
			return nil, err
		}
		idsMu.Lock()
		ids = append(ids, id)
		idsMu.Unlock()
		fig, err := figures(ctx, net, id, times, eval)
		if err != nil {
			stopAll()
			return nil, err
		}
		rep.Tasks = append(rep.Tasks, fig)
		fmt.Fprintf(out, "  task %d %s: %s, overhead %s (offer and start %s, collect %s, score %s; training %s, evaluation %s)\n",
			n+1, id, fig.Status, ms(fig.Overhead), ms(fig.Start), ms(fig.Collect), ms(fig.Score), ms(fig.Training), ms(fig.Evaluation))
		// Memory is read between two tasks, once a minute: read while one
		// runs, it would count the evaluation's and the uploads' buffers
		// (some 10 MiB, more or less depending on the moment).
		if after := time.Since(loadBegan); after >= time.Duration(len(rep.Memory))*time.Minute {
			rss, heap := memory()
			rep.Memory = append(rep.Memory, MemorySample{After: after, RSS: rss, Heap: heap})
			if err := heapProfile(cfg.HeapProfiles, fmt.Sprintf("%03dm", len(rep.Memory)-1)); err != nil {
				stopAll()
				return nil, err
			}
			fmt.Fprintf(out, "  memory after %s: resident %s, Go heap in use %s\n", after.Round(time.Second), mib(rss), mib(int64(heap)))
		}
	}
	stopAll()
	rep.LoadFor = time.Since(loadBegan)
	rep.RSSEnd, rep.HeapEnd = memory()
	rep.Memory = append(rep.Memory, MemorySample{After: rep.LoadFor, RSS: rep.RSSEnd, Heap: rep.HeapEnd})
	if err := heapProfile(cfg.HeapProfiles, "end"); err != nil {
		return nil, err
	}

	var over []time.Duration
	for _, t := range rep.Tasks {
		over = append(over, t.Overhead)
	}
	rep.Overhead = percentiles(over)
	rep.API, rep.Errors = map[string]Percentiles{}, lat.errors
	var all []time.Duration
	for _, r := range loadRoutes {
		rep.Routes = append(rep.Routes, r.name)
		rep.API[r.name] = percentiles(lat.byName[r.name])
		all = append(all, lat.byName[r.name]...)
		rep.Sent += len(lat.byName[r.name]) + lat.errors[r.name]
	}
	rep.API["all"] = percentiles(all)
	if lat.first != nil {
		rep.FirstErr = lat.first.Error()
	}
	return rep, nil
}

// runTask creates a task as the customer and waits for it to end.
func runTask(ctx context.Context, net *localnet.Net, c *api.Client, dataset string, hours float64) (string, error) {
	created, err := c.CreateTask(ctx, api.CreateTaskRequest{Model: "tiny", Dataset: dataset, Hours: hours})
	if err != nil {
		return "", fmt.Errorf("create a task: %w", err)
	}
	id := created.Task.ID
	deadline := time.Now().Add(time.Duration(hours*float64(time.Hour)) + 5*time.Minute)
	for {
		t, err := net.Validator.Store().FindTask(ctx, id)
		if err != nil {
			return "", err
		}
		if t.Status.Terminal() {
			return id, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("task %s still %s after its window and 5 minutes", id, t.Status)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// figures reads a finished task's status events and works out its times.
func figures(ctx context.Context, net *localnet.Net, id string, times *trainTimes, eval *timedEvaluator) (TaskFigures, error) {
	evs, err := net.Validator.Store().FindEvents(ctx, crucible.EventFilter{TaskID: id, Kind: crucible.EventStatus})
	if err != nil {
		return TaskFigures{}, err
	}
	at := map[crucible.TaskStatus]time.Time{}
	var status crucible.TaskStatus
	for _, e := range evs {
		if _, seen := at[e.ToStatus]; !seen {
			at[e.ToStatus] = e.CreatedAt
		}
		status = e.ToStatus
	}
	end := at[status]
	offered, training, evaluating := at[crucible.StatusLookingForNodes], at[crucible.StatusTraining], at[crucible.StatusEvaluating]
	if status != crucible.StatusSuccess || offered.IsZero() || training.IsZero() || evaluating.IsZero() {
		t, _ := net.Validator.Store().FindTask(ctx, id)
		why := ""
		if t != nil {
			why = t.Failure
		}
		return TaskFigures{}, fmt.Errorf("task %s ended %s, not through every status to success: %s", id, status, why)
	}
	f := TaskFigures{ID: id, Status: status, Start: training.Sub(offered), Collect: evaluating.Sub(training), Score: end.Sub(evaluating),
		Training: times.take(id), Evaluation: eval.within(evaluating, end)}
	f.Overhead = f.Start + f.Collect + f.Score - f.Training - f.Evaluation
	return f, nil
}

// ownSchema makes a schema of the run's own in the Postgres database at
// base and returns the URL that uses it, and how to drop it.
func ownSchema(ctx context.Context, base string) (string, func(), error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, crucible.Errorf(crucible.EINVALID, "--db must be a postgres:// URL (or empty for SQLite), got %q", base)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "crucible_bench_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create a schema for the run in %s: %w", u.Redacted(), err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), func() {
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	}, nil
}

// memory returns the process's resident memory (0 where /proc does not
// say) and the Go heap in use after a collection.
func memory() (rss int64, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
				rss = kb << 10
			}
		}
	}
	return rss, ms.HeapInuse
}

// heapProfile writes the heap profile heap-NAME.pb.gz into dir, the
// memory just read (memory collects first); nothing when dir is empty.
func heapProfile(dir, name string) error {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, "heap-"+name+".pb.gz")
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--heap-profiles: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("--heap-profiles: write %s: %w", path, err)
	}
	return f.Close()
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}
