package validatornode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/queue"
	"github.com/crucible-net/crucible/server/uploads"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
	"github.com/crucible-net/crucible/webhook"
)

// Deps are pieces a caller may hand a node instead of having Open build
// them from the Config; every nil field is built. Tests and the in-process
// network use them.
type Deps struct {
	Key       *sign.Keypair       // the hotkey; nil loads (or creates) Config.Key
	Chain     chain.Chain         // nil opens Config.Chain
	Store     *sqlstore.Store     // nil opens Config.DB; the node closes it either way
	Blobs     blob.Store          // nil opens Config.Blobs
	Models    validator.Models    // nil resolves names in Config.Assets and the Hugging Face cache
	ModelList []string            // the models customers may pick; nil lists those in Config.Assets
	Evaluator validator.Evaluator // nil is crucible's engine (EngineEvaluator)
	// RateClock is the clock the rate limits (per address, per account)
	// refill by; nil is time.Now. A test that stops it counts requests,
	// not how fast the machine sends them.
	RateClock func() time.Time
	Log       *slog.Logger // nil logs warnings to stderr (everything with Config.Verbose)
	// Out receives what an operator must see: the address the node serves
	// on and, on the first start, the admin API key. Nil discards it.
	Out io.Writer
}

// Node is a validator node: its state, store, durable queue, lifecycle,
// chain connection and HTTP API, wired together.
type Node struct {
	cfg Config
	// rateClock is Deps.RateClock (nil: time.Now).
	rateClock func() time.Time
	state     *node.State
	key       *sign.Keypair
	store     *sqlstore.Store
	queue     *queue.Queue
	v         *validator.Validator
	blobs     blob.Store
	chain     chain.Chain
	local     *chain.Local // the embedded or file-backed local chain; nil for a remote one
	// runClock says the node runs its local chain's blocks itself (a chain
	// it opened, not one handed to it).
	runClock bool
	mg       *chain.MetagraphCache
	lis      net.Listener
	h        http.Handler
	log      *slog.Logger
	out      io.Writer
	links    *blob.Signer
	nonces   *sign.ReplayCache // the signed requests' nonces, kept across restarts
	models   validator.Models
	names    []string
	up       *uploads.Store
	ds       datasetResolver
	split    data.SplitOptions
	synth    []validator.Synthetic
	hooks    *webhook.Notifier
	prices   *PriceTable // nil: estimates quote no price
	beats    heartbeats
	hub      *hub.Client // pushes winners (Config.HubPush); nil when it does not

	// afterTaskRow, when set (tests only), runs inside Submit's
	// transaction after the task row is written and before its job is
	// queued: returning an error there is a crash between the two.
	afterTaskRow func() error
	// afterStep, when set (tests only), runs after each lifecycle step
	// with what the step returned (the zero time when the task ended).
	afterStep func(taskID string, next time.Time)

	adminKey string // the admin API key created at this start, if any

	// kicked holds the tasks kicked (an upload came) since their step
	// began: the step runs again as soon as it ends.
	kicked sync.Map

	errc    chan error
	wg      sync.WaitGroup
	closers []func() error
}

// datasetResolver resolves a task's dataset name to a local path.
type datasetResolver interface{ Resolve(string) (string, error) }

// Open opens a validator node: it takes the state directory's lock, loads
// the hotkey, opens the store, the chain and the blob store, listens, and
// builds the lifecycle and the HTTP API. Nothing runs until Start or Run.
// On error everything opened so far is closed again.
func Open(ctx context.Context, cfg Config, deps Deps) (_ *Node, err error) {
	cfg.resolve()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: deps.Log, out: deps.Out, errc: make(chan error, 8), rateClock: deps.RateClock}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if n.log == nil {
		n.log = node.NewLogger(cfg.Verbose)
	}
	if n.out == nil {
		n.out = io.Discard
	}
	if n.state, err = node.OpenState(cfg.Home, "validator"); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.state.Release)
	if n.key = deps.Key; n.key == nil {
		if n.key, err = node.LoadOrCreateKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("validator key: %w", err)
		}
	}
	if n.store = deps.Store; n.store == nil {
		if n.store, err = sqlstore.Open(ctx, cfg.DB); err != nil {
			return nil, err
		}
	}
	n.closers = append(n.closers, n.store.Close)
	if err := n.openChain(ctx, deps.Chain); err != nil {
		return nil, err
	}
	if n.blobs = deps.Blobs; n.blobs == nil {
		if n.blobs, err = node.OpenBlobs(ctx, cfg.Blobs); err != nil {
			return nil, err
		}
	}
	if n.links, err = node.LinkSigner(n.state); err != nil {
		return nil, err
	}
	if n.nonces, err = sign.OpenReplayCache(n.state.Path("nonces"), 0); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, n.nonces.Close)
	if err := n.openModels(deps); err != nil {
		return nil, err
	}
	if err := n.openHub(); err != nil {
		return nil, err
	}
	n.beats.seen = map[string]beat{}
	if cfg.Prices != "" {
		if n.prices, err = LoadPriceTable(cfg.Prices); err != nil {
			return nil, err
		}
	}
	if n.lis, err = node.Listen(cfg.Listen, "validator", "listen"); err != nil {
		return nil, err
	}
	n.closers = append(n.closers, func() error { n.lis.Close(); return nil })
	n.cfg.Listen = n.lis.Addr().String()
	if n.cfg.PublicURL == "" {
		n.cfg.PublicURL = "http://" + n.cfg.Listen
	}
	if err := n.openQueue(ctx); err != nil {
		return nil, err
	}
	ev := deps.Evaluator
	if ev == nil && n.cfg.Evaluator == crucible.EvaluatorTorch {
		te, err := NewTorchEvaluator(ctx, n.cfg.Python, n.state.Path("torch"), n.cfg.TorchDevice)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(n.out, "evaluator: torch, %s (%s)\n", te.Runtime.Info, te.Runtime.Python)
		ev = te
	}
	if err := n.openValidator(ev); err != nil {
		return nil, err
	}
	n.hooks = webhook.New(n.store, webhook.Options{Policy: n.webhookPolicy(), MaxAttempts: cfg.WebhookAttempts,
		Backoff: cfg.WebhookBackoff, Log: n.log.With("component", "webhooks")})
	n.h = n.routes()
	return n, nil
}

// openChain connects to the configured chain, or uses c.
func (n *Node) openChain(ctx context.Context, c chain.Chain) error {
	var err error
	switch {
	case c != nil:
		n.chain = c
		n.local, _ = c.(*chain.Local)
	case n.cfg.Chain == "embedded":
		if n.local, err = node.EmbeddedChain(n.store); err != nil {
			return err
		}
		n.chain = n.local
	case node.IsSubtensor(n.cfg.Chain):
		if n.chain, err = node.OpenSubtensor(ctx, n.cfg.Chain, n.cfg.NetUID, n.state.Path("subtensor-commits.json"), n.key); err != nil {
			return err
		}
	default:
		if n.chain, n.local, err = node.OpenChain(n.cfg.Chain, n.key); err != nil {
			return err
		}
	}
	n.runClock = c == nil && n.local != nil
	n.mg = chain.NewMetagraphCache(n.chain, 5*time.Second)
	return nil
}

// openModels sets up the models customers pick from, the datasets they
// name, and the synthetic tasks' candidates.
func (n *Node) openModels(deps Deps) error {
	n.models, n.names = deps.Models, deps.ModelList
	if n.models == nil {
		dir, err := node.ShippedModels(n.cfg.Assets, n.state.Path("assets"), os.Stderr)
		if err != nil {
			return err
		}
		n.cfg.Assets = dir
		n.models = node.NewModels(dir)
	}
	if n.names == nil {
		n.names = node.AssetModels(n.cfg.Assets)
		for name, err := range node.UnsupportedAssetModels(n.cfg.Assets) {
			n.log.Warn("model not offered: crucible cannot load it", "model", name, "err", err)
		}
	}
	// Datasets: customers' uploads, Hugging Face datasets in the local
	// cache, and (for the validator's own tasks and admins) paths.
	var err error
	if n.up, err = uploads.New(n.state.Path("uploads")); err != nil {
		return err
	}
	cache := hub.Cache{Dir: hub.DefaultCacheDir()}
	n.ds = uploads.Resolver{Uploads: n.up, Cache: &cache, Next: hub.Resolver{Cache: cache, Kind: hub.Dataset}}
	n.split = data.SplitOptions{Seed: uint64(n.cfg.Seed), MaxTestRows: n.cfg.TestCap, MinRows: n.cfg.MinRows}
	if n.cfg.SyntheticEvery > 0 {
		if n.synth, err = syntheticCandidates(&n.cfg); err != nil {
			return err
		}
	}
	return nil
}

// openQueue opens the durable job queue on the store's database.
func (n *Node) openQueue(ctx context.Context) error {
	workers := river.NewWorkers()
	river.AddWorker(workers, &advanceWorker{node: n})
	river.AddWorker(workers, &tournamentWorker{node: n})
	// A stable name: after a crash, the jobs this node left running are
	// redone at once (queue.Queue.Start).
	// A kick (queue.Queue.Kick) asks for a fetch right after the insert
	// that found the job waiting: the short cooldown lets that second look
	// go at once instead of 100 ms later. Looks are fetched only when asked
	// for, or every FetchPollInterval.
	qcfg := queue.Config{Workers: workers, MaxWorkers: n.cfg.Workers, FetchPollInterval: 200 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
		Logger: n.log.With("component", "queue"), ID: "validator-" + n.key.Address()}
	var err error
	if n.store.Dialect() == sqlstore.Postgres {
		n.queue, err = queue.NewPostgres(ctx, n.store.Pool(), n.store.DB(), qcfg)
	} else {
		n.queue, err = queue.NewSQLite(ctx, n.store.DB(), qcfg)
	}
	return err
}

// openValidator builds the lifecycle on the node's pieces.
func (n *Node) openValidator(ev validator.Evaluator) error {
	if ev == nil {
		ev = EngineEvaluator{}
	}
	transport := &sign.Transport{Signer: n.key, Base: http.DefaultTransport}
	deps := validator.Deps{
		Store: n.store, Blobs: blobAdapter{n.blobs}, Models: n.models, Evaluator: ev,
		Preparer:       NewPreparer(n.ds, n.models, n.split),
		Miners:         protocol.HTTPMiners(&http.Client{Transport: transport}, sign.WithTarget),
		Log:            n.log,
		Links:          n.links,
		Kick:           func(id string) { n.kick(context.Background(), id) },
		Signer:         n.key,
		Weights:        node.ChainWeights{Chain: n.chain, Hotkey: n.key.Address()},
		Submit:         n.submit,
		KickTournament: func(id string) { n.kickTournament(context.Background(), id) },
		Verify:         sign.VerifySignature,
	}
	if n.local != nil {
		deps.Fees = localFees{n.local}
	}
	var err error
	n.v, err = validator.New(n.cfg.Config, deps)
	return err
}

// close releases what Open opened, in reverse order.
func (n *Node) close() error {
	var errs []error
	for i := len(n.closers) - 1; i >= 0; i-- {
		errs = append(errs, n.closers[i]())
	}
	n.closers = nil
	return errors.Join(errs...)
}

// AdminKey returns the admin API key Start created on a fresh store ("" when
// the store had an admin already): it is shown once.
func (n *Node) AdminKey() string { return n.adminKey }

// Close releases what Open opened, for a node that was not started (a
// started node closes itself in Wait).
func (n *Node) Close() error { return n.close() }

// Addr returns the address the node serves on.
func (n *Node) Addr() string { return n.lis.Addr().String() }

// URL returns the base URL of the node's HTTP API.
func (n *Node) URL() string { return "http://" + n.Addr() }

// Key returns the node's hotkey.
func (n *Node) Key() *sign.Keypair { return n.key }

// Store returns the node's store.
func (n *Node) Store() *sqlstore.Store { return n.store }

// Blobs returns the node's blob store.
func (n *Node) Blobs() blob.Store { return n.blobs }

// Validator returns the node's lifecycle.
func (n *Node) Validator() *validator.Validator { return n.v }

// Chain returns the chain the node is on, and the local chain when it runs
// one itself (nil for a remote chain).
func (n *Node) Chain() (chain.Chain, *chain.Local) { return n.chain, n.local }

// Handler returns the node's HTTP API: the customer API and dashboard, the
// signed node protocol and the results log.
func (n *Node) Handler() http.Handler { return n.h }

// Config returns the node's configuration, with the defaults that depend
// on the state directory and the listener filled in.
func (n *Node) Config() Config { return n.cfg }

// StatePath returns the path of name in the node's state directory.
func (n *Node) StatePath(name string) string { return filepath.Join(n.state.Dir, name) }
