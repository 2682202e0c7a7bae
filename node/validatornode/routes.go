package validatornode

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/blob"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/ratelimit"
	"github.com/crucible-net/crucible/server"
	"github.com/crucible-net/crucible/sign"
)

// routes assembles the node's HTTP API:
//
//	/v1/node/...   the node protocol: signed requests from registered nodes
//	               (result uploads), and download links, which carry their
//	               own signature
//	/v1/results    the public results log and finished tasks' artifacts
//	/chain/...     the local chain the node runs (embedded), for miners to
//	               join; its paths are answered at /v1/... too
//	everything else  the customer API (/v1/...) and the dashboard
func (n *Node) routes() http.Handler {
	// Result uploads: any registered hotkey may try (the lifecycle then
	// checks that it has a part in the task), checked from the headers
	// before a byte is read, and streamed into the blob store, which keeps
	// nothing unless the whole body matches its signature.
	verified := sign.Verify(protocol.ValidatorHandler(n.v, signedCaller), sign.Options{Hotkey: n.key.Address(),
		Authorize: n.mg.Authorizer(0, false), MaxBody: n.cfg.MaxUpload, Stream: true, Replay: n.nonces,
		Log: n.log.With("component", "node protocol")})
	links := protocol.ValidatorHandler(n.v, func(*http.Request) string { return "" })
	mux := http.NewServeMux()
	mux.Handle("/v1/node/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, api.PathBlob) {
			links.ServeHTTP(w, r)
			return
		}
		verified.ServeHTTP(w, r)
	}))
	if n.runClock {
		// The local chain this node runs is theirs to join: miners name
		// --chain http://VALIDATOR/chain (or the validator's own URL).
		ch := chain.NewHandler(n.local, chain.ServerOptions{Authenticate: sign.NewVerifier(sign.Options{Hotkey: chain.Audience, Replay: n.nonces}).Check})
		mux.Handle("/chain/", http.StripPrefix("/chain", ch))
		for _, p := range chainPaths {
			mux.Handle(p, ch)
		}
	}
	opt := server.Options{Log: n.log, MaxResumable: n.cfg.MaxDataset,
		RatePerMinute: n.cfg.RatePerAccount, PublicDownloads: n.cfg.PublicDownloads, Now: n.rateClock}
	if n.cfg.Experiments != "" {
		opt.Experiments = os.DirFS(n.cfg.Experiments)
	}
	srv := server.New(backend{Store: n.store, n: n}, opt)
	results := n.v.ResultsHandler()
	mux.Handle("/v1/results", results)
	mux.Handle("/v1/results/", results)
	// The artifacts of finished public tasks (test splits, every miner's
	// result) need an API key unless the operator made downloads public.
	mux.Handle("/v1/results/artifacts/", srv.KeyRequired(results))
	mux.Handle("/", srv)
	// Every route, signed or not, is limited by the caller's address.
	return ratelimit.PerAddress(mux, ratelimit.New(max(60, n.cfg.RatePerAddress/10), n.rateClock), n.cfg.RatePerAddress, func(addr string) {
		n.log.Warn("rate limited", "addr", addr)
	})
}

// chainPaths are the chain API's paths, answered at the validator's root
// too when it runs its own chain, so that a miner given the validator's URL
// as --chain joins it.
var chainPaths = []string{"GET /v1/block", "GET /v1/hyperparams", "GET /v1/metagraph", "POST /v1/register",
	"POST /v1/serve_axon", "POST /v1/set_weights", "POST /v1/add_stake"}

// blobAdapter presents a blob.Store as the validator's Blobs.
type blobAdapter struct{ blob.Store }

func (b blobAdapter) Put(ctx context.Context, key string, r io.Reader) (int64, string, error) {
	info, err := b.Store.Put(ctx, key, r)
	return info.Size, info.SHA256, err
}

func (b blobAdapter) Sum(ctx context.Context, key string) (int64, string, error) {
	info, err := b.Store.Stat(ctx, key)
	return info.Size, info.SHA256, err
}

// signedCaller is the verified hotkey sign.Verify put on a request.
func signedCaller(r *http.Request) string {
	h, _ := sign.Caller(r.Context())
	return h
}
