package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/queue"
	"github.com/crucible-net/crucible/server"
	"github.com/crucible-net/crucible/server/uploads"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
	"github.com/riverqueue/river"
)

// validatorNode is a running validator: its store, durable queue, lifecycle
// and HTTP API, wired together.
type validatorNode struct {
	v      *validator.Validator
	store  *sqlstore.Store
	queue  *queue.Queue
	key    *sign.Keypair
	chain  chain.Chain
	mg     *chain.MetagraphCache
	log    *slog.Logger
	poll   time.Duration
	lis    net.Listener
	server http.Handler
}

// validatorParts are the pieces a validator node is built from.
type validatorParts struct {
	cfg       validator.Config
	key       *sign.Keypair
	chain     chain.Chain
	models    validator.Models
	evaluator validator.Evaluator
	poll      time.Duration // longest wait between two looks at a running task
	workers   int
	minRows   int
	log       *slog.Logger
	store     *sqlstore.Store // opened from cfg.DB when nil
	modelList []string        // the models customers may pick in the dashboard
}

// blobAdapter presents a blob.Store as the validator's Blobs.
type blobAdapter struct{ blob.Store }

func (b blobAdapter) Put(ctx context.Context, key string, r io.Reader) (int64, string, error) {
	info, err := b.Store.Put(ctx, key, r)
	return info.Size, info.SHA256, err
}

// advanceWorker runs the lifecycle job: one Step, then a snooze until the
// step wants to run again (at most poll later, so uploads that let a task
// move on early are noticed).
type advanceWorker struct {
	river.WorkerDefaults[queue.AdvanceTaskArgs]
	node *validatorNode
}

func (w *advanceWorker) Work(ctx context.Context, job *river.Job[queue.AdvanceTaskArgs]) error {
	next, err := w.node.v.Step(ctx, job.Args.TaskID)
	if err != nil {
		if crucible.ErrorCode(err) == crucible.ENOTFOUND {
			return river.JobCancel(err)
		}
		return err
	}
	if next.IsZero() {
		return nil
	}
	d := time.Until(next)
	if d <= 0 {
		d = time.Millisecond
	}
	return river.JobSnooze(min(d, w.node.poll))
}

// Timeout lets evaluation and data preparation run for hours.
func (w *advanceWorker) Timeout(*river.Job[queue.AdvanceTaskArgs]) time.Duration {
	return 12 * time.Hour
}

// startValidator opens the store and the queue on p.cfg.DB and builds the
// validator; call run to serve and work.
func startValidator(ctx context.Context, p validatorParts) (*validatorNode, error) {
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.poll <= 0 {
		p.poll = 10 * time.Second
	}
	lis, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "validator cannot listen on %s: %v", p.cfg.Listen, err).
			WithHint("pick another address with --listen")
	}
	p.cfg.Listen = lis.Addr().String()
	if p.cfg.PublicURL == "" {
		p.cfg.PublicURL = "http://" + p.cfg.Listen
	}
	store := p.store
	if store == nil {
		if store, err = sqlstore.Open(ctx, p.cfg.DB); err != nil {
			lis.Close()
			return nil, err
		}
	}
	blobs, err := blob.NewLocal(blob.LocalConfig{Dir: p.cfg.BlobDir})
	if err != nil {
		store.Close()
		lis.Close()
		return nil, err
	}
	n := &validatorNode{store: store, key: p.key, chain: p.chain, log: p.log, poll: p.poll, lis: lis,
		mg: chain.NewMetagraphCache(p.chain, 5*time.Second)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &advanceWorker{node: n})
	qcfg := queue.Config{Workers: workers, MaxWorkers: max(p.workers, 1), FetchPollInterval: 200 * time.Millisecond,
		Logger: p.log.With("component", "queue")}
	if store.Dialect() == sqlstore.Postgres {
		n.queue, err = queue.NewPostgres(ctx, store.Pool(), store.DB(), qcfg)
	} else {
		n.queue, err = queue.NewSQLite(ctx, store.DB(), qcfg)
	}
	if err != nil {
		store.Close()
		lis.Close()
		return nil, err
	}
	// Datasets: customers' uploads, Hugging Face datasets in the local cache,
	// and (for the validator's own tasks and admins) paths.
	up, err := uploads.New(filepath.Join(p.cfg.BlobDir, "uploads"))
	if err != nil {
		store.Close()
		lis.Close()
		return nil, err
	}
	cache := hub.Cache{Dir: hub.DefaultCacheDir()}
	datasets := uploads.Resolver{Uploads: up, Cache: &cache, Next: hub.Resolver{Cache: cache, Kind: hub.Dataset}}
	split := data.SplitOptions{Seed: uint64(p.cfg.Seed), MaxTestRows: p.cfg.TestCap, MinRows: p.minRows}
	transport := &sign.Transport{Signer: p.key, Base: http.DefaultTransport}
	deps := validator.Deps{
		Store: store, Blobs: blobAdapter{blobs}, Models: p.models, Evaluator: p.evaluator,
		Preparer: &validator.DataPreparer{Datasets: datasets, Models: p.models, Split: split},
		Client:   &http.Client{Transport: transport},
		ForMiner: sign.WithTarget,
		Log:      p.log,
		Kick:     func(id string) { n.kick(context.Background(), id) },
		Signer:   p.key,
		Weights:  chainWeights{chain: p.chain, hotkey: p.key.Address()},
	}
	n.v, err = validator.New(p.cfg, deps)
	if err != nil {
		store.Close()
		lis.Close()
		return nil, err
	}
	verified := sign.Verify(n.v.NodeHandler(func(r *http.Request) string {
		h, _ := sign.Caller(r.Context())
		return h
	}), sign.Options{Hotkey: p.key.Address(), Authorize: n.mg.Authorizer(0, false), MaxBody: p.cfg.MaxUpload})
	mux := http.NewServeMux()
	links := n.v.NodeHandler(func(*http.Request) string { return "" })
	mux.Handle("/v1/node/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Download links carry their own signature; everything else on the
		// node API is a signed request from a registered node.
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/node/blobs/") {
			links.ServeHTTP(w, r)
			return
		}
		verified.ServeHTTP(w, r)
	}))
	mux.Handle("/v1/results", n.v.ResultsHandler())
	mux.Handle("/v1/results/", n.v.ResultsHandler())
	// Everything else: the customer API and the dashboard.
	customers := &customerBackend{Store: store, n: n, uploads: up, datasets: datasets, models: p.models,
		names: p.modelList, split: split, minRows: p.minRows, hours: p.cfg.DefaultHours}
	mux.Handle("/", server.New(customers, server.Options{Log: p.log}))
	n.server = mux
	return n, nil
}

// kick makes sure a lifecycle job is queued for the task (a no-op when one
// already is).
func (n *validatorNode) kick(ctx context.Context, id string) {
	if _, err := n.queue.Insert(ctx, queue.AdvanceTaskArgs{TaskID: id}, nil); err != nil {
		n.log.Warn("queue task", "task", id, "err", err)
	}
}

// submit creates a task and queues its lifecycle.
func (n *validatorNode) submit(ctx context.Context, t *crucible.Task) error {
	if err := n.v.CreateTask(ctx, t); err != nil {
		return err
	}
	if _, err := n.queue.Insert(ctx, queue.AdvanceTaskArgs{TaskID: t.ID}, nil); err != nil {
		return fmt.Errorf("queue task %s: %w", t.ID, err)
	}
	return nil
}

// syncMetagraph copies the chain's metagraph into the store, where the
// lifecycle finds miners to offer tasks to.
func (n *validatorNode) syncMetagraph(ctx context.Context) error {
	if err := n.mg.Refresh(ctx); err != nil {
		return err
	}
	mg, err := n.mg.Get(ctx)
	if err != nil {
		return err
	}
	return n.store.UpsertNodes(ctx, mg.Nodes())
}

// run serves the API, works the queue and keeps the metagraph fresh until
// ctx ends.
func (n *validatorNode) run(ctx context.Context) error {
	defer n.store.Close()
	if err := n.syncMetagraph(ctx); err != nil {
		return fmt.Errorf("read metagraph: %w", err)
	}
	if err := n.queue.Start(ctx); err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, n.lis, n.server) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			n.queue.StopAndCancel(sctx)
			cancel()
			<-errc
			return nil
		case err := <-errc:
			return err
		case <-tick.C:
			if err := n.syncMetagraph(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("metagraph sync", "err", err)
			}
		}
	}
}

// bootstrapAdmin creates the first admin account and API key when there is
// none, and returns the key (shown once) or "".
func (n *validatorNode) bootstrapAdmin(ctx context.Context) (string, error) {
	secret, created, err := server.Bootstrap(ctx, n.store)
	if err != nil || !created {
		return "", err
	}
	return secret, nil
}

// assetModels lists the model directories under dir, by name.
func assetModels(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if e.IsDir() && fileExists(filepath.Join(dir, e.Name(), "config.json")) {
			out = append(out, e.Name())
		}
	}
	return out
}
