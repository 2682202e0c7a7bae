// Package server is crucible's customer face: the REST API under /v1 (JSON,
// API keys, an OpenAPI document) and the dashboard (server-rendered pages
// with SVG charts, embedded assets, no build step).
//
// The server imports no adapter: everything it needs from the validator
// node (the store, task submission, artifacts, estimates, uploads, the
// model list) comes through the Backend interface, which the node wires.
//
// Authentication: API calls carry "Authorization: Bearer KEY". Keys are
// stored hashed (crucible.HashAPIKey); a missing, unknown or revoked key is
// 401, and each key has its own token bucket (429 with Retry-After when it
// runs dry). The dashboard logs in with an API key through a form that sets
// an HttpOnly, SameSite=Strict cookie holding the key; without one, the
// network page and the pages of public tasks are readable, nothing else.
// Logged in, an account manages its own keys on /keys (a new secret is shown
// once).
// Accounts see their own tasks and public ones; another account's private
// task is 404, as if it did not exist.
package server

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ratelimit"
)

// Store is the part of the validator's store the server reads and writes.
type Store interface {
	crucible.TaskService
	crucible.SubmissionService
	crucible.EventService
	crucible.AccountService
	crucible.ScoreService
	crucible.NodeService
	crucible.WeightsService
	crucible.WebhookService
	crucible.TournamentService
}

// Backend is what the server needs from the validator node.
type Backend interface {
	Store
	// Submit stores a new task (filling in its ID) and schedules its
	// lifecycle. Returns EINVALID when the task does not validate.
	Submit(ctx context.Context, t *crucible.Task) error
	// Cancel stops a task that has not finished. Returns ENOTFOUND,
	// ECONFLICT when it has already finished.
	Cancel(ctx context.Context, t *crucible.Task) error
	// OpenArtifact opens a blob, such as the winner's result tar stored
	// under Task.ResultModel. Returns ENOTFOUND.
	OpenArtifact(ctx context.Context, key string) (io.ReadCloser, error)
	// Estimate resolves the request's model and dataset, settles its type
	// and mapping and says what the task would take. Returns EINVALID for a
	// dataset or mapping that does not fit, ENOTFOUND for a dataset or
	// model that does not exist.
	Estimate(ctx context.Context, req api.CreateTaskRequest) (*api.Estimate, error)
	// SaveUpload stores an uploaded dataset after checking it with the
	// dataset readers. A dataset with problems returns EINVALID together
	// with the receipt listing them (see uploads.Store).
	// The upload belongs to account.
	SaveUpload(ctx context.Context, account, name string, r io.Reader) (*api.DatasetUpload, error)
	// FindUpload returns account's upload id; another account's is
	// ENOTFOUND.
	FindUpload(ctx context.Context, account, id string) (*api.DatasetUpload, error)
	// BeginUpload, AppendUpload, UploadSession and AbortUpload keep an
	// account's resumable uploads (see uploads.Store.Begin and the rest):
	// another account's session is ENOTFOUND.
	BeginUpload(ctx context.Context, account string, req api.BeginUpload, max int64) (*api.UploadSession, error)
	AppendUpload(ctx context.Context, account, id string, offset int64, r io.Reader) (*api.UploadSession, error)
	UploadSession(ctx context.Context, account, id string) (*api.UploadSession, error)
	AbortUpload(ctx context.Context, account, id string) error
	// BaseLoss returns the base model's test loss on a task's hidden test
	// split, nil while it is not measured.
	BaseLoss(ctx context.Context, taskID string) (*float64, error)
	// Models lists the base models customers may pick.
	Models() []string
	// Datasets lists the datasets in the validator's cache customers may
	// pick instead of uploading one.
	Datasets() []string
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// RatePerMinute is each account's sustained request rate, API and
	// dashboard together, whichever of its keys it uses. Defaults to 600.
	RatePerMinute int
	// Burst is how many requests an account may make at once. Defaults to
	// 60.
	Burst int
	// MaxUpload is the largest dataset upload in one request (and the
	// largest chunk of a resumable one) in bytes. Defaults to 512 MiB.
	MaxUpload int64
	// MaxResumable is the largest resumable dataset upload in bytes.
	// Defaults to 32 GiB.
	MaxResumable int64
	// EventPoll is how often an event stream looks for new events. Defaults
	// to 1 s.
	EventPoll time.Duration
	// Heartbeat is how often an idle event stream sends a comment line to
	// keep proxies from closing it. Defaults to 15 s.
	Heartbeat time.Duration
	// PublicDownloads lets anyone download a public task's winner without an
	// API key (KeyRequired lets such requests through too). Off, every
	// download needs a key.
	PublicDownloads bool
	// SecureCookies marks the login cookie Secure (serve over HTTPS).
	SecureCookies bool
	// Experiments, when set, is a folder of experiment reports (one folder
	// each with its results.json and charts, as crucible experiment writes
	// them) the dashboard shows on /experiments, to anyone.
	Experiments fs.FS
	// Log receives request failures that are not the caller's fault.
	Log *slog.Logger
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.RatePerMinute <= 0 {
		o.RatePerMinute = 600
	}
	if o.Burst <= 0 {
		o.Burst = 60
	}
	if o.MaxUpload <= 0 {
		o.MaxUpload = 512 << 20
	}
	if o.MaxResumable <= 0 {
		o.MaxResumable = 32 << 30
	}
	if o.EventPoll <= 0 {
		o.EventPoll = time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Server serves the customer API and the dashboard. Mount Handler at "/"
// (the dashboard) and "/v1/" (the API); both are served by the one handler.
type Server struct {
	b       Backend
	opt     Options
	limiter *ratelimit.Limiter
	mux     *http.ServeMux
	pages   *pages
}

// New returns a server over b.
func New(b Backend, opt Options) *Server {
	opt.defaults()
	s := &Server{b: b, opt: opt, limiter: ratelimit.New(opt.Burst, opt.Now), mux: http.NewServeMux()}
	s.pages = newPages()
	for _, r := range s.apiRoutes() {
		s.mux.Handle(r.method+" "+r.pattern, s.wrap(r))
	}
	s.dashboardRoutes(s.mux)
	return s
}

// Handler returns the HTTP handler of the API and the dashboard.
func (s *Server) Handler() http.Handler { return s.mux }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// route is one API endpoint.
type route struct {
	method, pattern string
	public          bool // served without an API key
	h               func(w http.ResponseWriter, r *http.Request, c *caller) error
}

// apiRoutes is the API's route table; the OpenAPI document must describe
// each entry (a test checks).
func (s *Server) apiRoutes() []route {
	return []route{
		{"GET", api.PathOpenAPI, true, s.openAPI},
		{"GET", api.PathNetwork, true, s.networkStatus},
		{"GET", api.PathMiners, true, s.minerStandings},
		{"GET", api.PathModels, false, s.listModels},
		{"POST", api.PathDatasets, false, s.uploadDataset},
		{"POST", api.PathUploads, false, s.beginUpload},
		{"PUT", api.PathUploads + "/{id}", false, s.appendUpload},
		{"GET", api.PathUploads + "/{id}", false, s.uploadSession},
		{"DELETE", api.PathUploads + "/{id}", false, s.abortUpload},
		{"POST", api.PathEstimate, false, s.estimate},
		{"POST", api.PathTasks, false, s.createTask},
		{"GET", api.PathTasks, false, s.listTasks},
		{"GET", api.PathTasks + "/{id}", false, s.showTask},
		{"GET", api.PathTasks + "/{id}" + api.TaskResultsPath, false, s.taskResults},
		{"GET", api.PathTasks + "/{id}" + api.TaskEventsPath, false, s.taskEvents},
		{"GET", api.PathTasks + "/{id}" + api.TaskDownloadPath, false, s.download},
		{"POST", api.PathTasks + "/{id}" + api.TaskCancelPath, false, s.cancelTask},
		{"GET", api.PathTournaments, true, s.listTournaments},
		{"POST", api.PathTournaments, false, s.createTournament},
		{"GET", api.PathTournaments + "/{id}", true, s.showTournament},
		{"GET", api.PathTournaments + "/{id}" + api.TournamentEventsPath, true, s.tournamentEvents},
		{"GET", api.PathChampions, true, s.listChampions},
		{"POST", api.PathChampions, false, s.seedChampion},
		{"POST", api.PathKeys, false, s.createKey},
		{"GET", api.PathKeys, false, s.listKeys},
		{"DELETE", api.PathKeys + "/{id}", false, s.revokeKey},
		{"GET", api.PathAccount, false, s.accountBalance},
		{"PUT", api.PathAccounts + "/{id}/credit", false, s.setCredit},
		{"POST", api.PathWebhooks, false, s.createWebhook},
		{"GET", api.PathWebhooks, false, s.listWebhooks},
		{"DELETE", api.PathWebhooks + "/{id}", false, s.deleteWebhook},
		{"GET", api.PathWebhooks + "/{id}/deliveries", false, s.webhookDeliveries},
		{"POST", api.PathWebhooks + "/{id}/ping", false, s.pingWebhook},
	}
}

// wrap authenticates (unless the route is public), rate-limits and turns a
// returned error into an error response.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(r)
		if err != nil && !(rt.public && crucible.ErrorCode(err) == crucible.EUNAUTHORIZED && bearer(r) == "") {
			api.WriteError(w, err)
			return
		}
		if err := checkPathID(r); err != nil {
			api.WriteError(w, err)
			return
		}
		if c != nil && !s.allow(w, c) {
			return
		}
		if err := rt.h(w, r, c); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// writeError answers with err, logging the ones that are not the caller's
// fault.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if crucible.ErrorCode(err) == crucible.EINTERNAL {
		s.opt.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	api.WriteError(w, err)
}

// KeyRequired lets through to h only requests with a valid API key (any
// account's), rate-limited as the API is, unless the operator made
// downloads public (Options.PublicDownloads). The validator puts the
// published artifacts of finished public tasks behind it: they hold the
// winner's weights.
func (s *Server) KeyRequired(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opt.PublicDownloads {
			h.ServeHTTP(w, r)
			return
		}
		c, err := s.authenticate(r)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		if !s.allow(w, c) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// checkPathID refuses (ENOTFOUND: nothing can have such an id) a request
// whose {id} path segment is not an id (crucible.ValidID), before anything
// looks it up.
func checkPathID(r *http.Request) error {
	if id := r.PathValue("id"); id != "" || strings.Contains(r.Pattern, "{id}") {
		if err := crucible.CheckID("id", id); err != nil {
			return crucible.Errorf(crucible.ENOTFOUND, "not found: %s", crucible.ErrorMessage(err))
		}
	}
	return nil
}
