package validator

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// Store is the part of the task store the validator uses.
type Store interface {
	crucible.TaskService
	crucible.SubmissionService
	crucible.NodeService
	crucible.ScoreService
	crucible.EventService
	crucible.OfferService
	crucible.ResultLogService
	crucible.WeightsService
	crucible.EvaluationService
	crucible.TournamentService
}

// Blobs stores datasets, splits and uploaded results.
type Blobs interface {
	// Put stores r under key, replacing what was there, and returns its size
	// and hex sha256.
	Put(ctx context.Context, key string, r io.Reader) (size int64, sha256 string, err error)
	// Get opens key. Returns ENOTFOUND.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Sum returns the size and hex sha256 of key (without reading it where
	// the store keeps them). Returns ENOTFOUND.
	Sum(ctx context.Context, key string) (size int64, sha256 string, err error)
}

// Models resolves a model name (a path, an asset name, or a Hugging Face id
// in the local cache) to a directory in Hugging Face layout.
type Models interface {
	ResolveModel(ctx context.Context, name string) (dir string, err error)
}

// Preparer turns a task's dataset into a train split for miners and a
// hidden test split, both JSONL in the standard columns of the task's type,
// written into dir. When honeypot is not nil, both splits carry it. Its
// production implementation is package dataprep.
type Preparer interface {
	Prepare(ctx context.Context, t *crucible.Task, dir string, honeypot *crucible.Honeypot) (*Prepared, error)
}

// Prepared is what data preparation produced.
type Prepared struct {
	TrainPath, TestPath string
	TrainRows, TestRows int
	Mapping             crucible.ColumnMapping // the mapping of the files at TrainPath and TestPath
	SourceMapping       crucible.ColumnMapping // the mapping used on the customer's dataset
	Reason              string                 // why that mapping, when it was detected
	ModelParams         int64
	TrainTokens         int64 // tokens in the train split with the base model's tokenizer (scaled from its first 200,000 rows when larger); 0 when not counted
	// TrainTokensPath and TestTokensPath are the splits' token files
	// (docs/tokens.md), written with the base model's tokenizer, or empty
	// when the preparer writes none: miners get the first beside the
	// JSONL, evaluators read the second.
	TrainTokensPath, TestTokensPath string
}

// NumericsReporter is an Evaluator that names the arithmetic class of its
// results (see resultlog.TaskResult.Numerics), which the results log then
// records for auditors.
type NumericsReporter interface {
	Numerics() string
}

// Evaluator computes the validator's metric: the test loss of a submission
// (a full model, or a PEFT adapter over the base) on the hidden test split.
// It must be deterministic: the same inputs give bit-identical losses.
type Evaluator interface {
	Evaluate(ctx context.Context, req EvalRequest) (*EvalResult, error)
}

// EvalRequest names what to evaluate.
type EvalRequest struct {
	TaskType crucible.TaskType
	BaseDir  string                 // the base model
	ModelDir string                 // the submission; empty to evaluate the base itself
	TestPath string                 // the hidden test split (JSONL)
	Mapping  crucible.ColumnMapping // how to read TestPath
	// TestTokensPath is the test split's token file, written with the
	// base's tokenizer when the data was prepared; empty when there is none
	// (the evaluator then tokenizes TestPath itself).
	TestTokensPath string
	Progress       func(done, total int) // optional
	IsAdapter      bool                  // set by the evaluator's checks; informational
	// Rewards and Seed are a grpo task's: its reward functions, and the
	// seed every sampled completion derives from (crucible.EvalSeed).
	Rewards []crucible.Reward
	Seed    uint64
}

// EvalResult is one evaluation's outcome. A submission that is not a valid
// fine-tune of the base has Failure set and no meaningful Loss.
type EvalResult struct {
	Loss        float64   `json:"loss"`
	Tokens      int       `json:"tokens"`
	Samples     int       `json:"samples"`
	Failure     string    `json:"failure,omitempty"`
	IsAdapter   bool      `json:"is_adapter"`
	Fingerprint []float32 `json:"-"` // a fixed projection of the weight delta from the base, for near-duplicate detection
	// Reward is a grpo task's evaluation (Loss is then unused).
	Reward *crucible.RewardResult `json:"reward,omitempty"`
	// Evaluator says what computed Loss (recorded with the task's losses
	// and in the results log, so auditors re-run the same kind).
	Evaluator crucible.EvaluatorInfo `json:"evaluator"`
}

// Deps are the validator's collaborators.
type Deps struct {
	Store     Store
	Blobs     Blobs
	Models    Models
	Preparer  Preparer
	Evaluator Evaluator
	// Miners reaches the miner at a node, as this validator (over HTTP:
	// protocol.HTTPMiners with a client that signs with its hotkey).
	Miners protocol.MinerDialer
	Log    *slog.Logger
	Now    func() time.Time
	// Links signs the download links miners get and checks them when they
	// are used (blob.Signer, its key kept in the node's state so links
	// survive a restart).
	Links Links
	// Signer signs the public results log; nil keeps no log.
	Signer resultlog.Signer
	// Weights sets weights on the chain; nil computes and records them only.
	Weights WeightSetter
	// Kick, when set, is called after something happened to a task that may
	// let its lifecycle move on early (a result was uploaded), so the driver
	// can call Step at once instead of at the time Step last asked for.
	Kick func(taskID string)
	// Submit stores a task and schedules its lifecycle, in one
	// transaction, with a first event note (the node's Submit); a task
	// whose ID exists is ECONFLICT. Tournaments create their tasks with it.
	Submit func(ctx context.Context, t *crucible.Task, note string) error
	// KickTournament, when set, is called when a tournament's task ends, so
	// the driver can call TournamentStep at once.
	KickTournament func(tournamentID string)
	// Verify checks the signatures of tournament entries (sign.VerifySignature).
	Verify SignatureCheck
	// Fees charges tournament entry fees; nil allows only free tournaments.
	Fees Fees
}

// Validator runs the task lifecycle. It is the validator's side of the node
// protocol (protocol.ValidatorServer: uploads and download links): serve it
// with protocol.ValidatorHandler or register it with a protocol.Local.
type Validator struct {
	cfg  Config
	spec scoring.Spec
	Deps

	progressMu  sync.Mutex
	progress    map[string]api.MinerTaskStatus // last status seen per task/miner
	unreachable map[string]unreachableSince    // training miners that stopped answering, per task/miner
	reoffered   map[string]time.Time           // when each task was last offered again

	// outcomeMu keeps a tournament's finish (its log entry and status), a
	// task's scoring (its scores and log entry) and a weights computation
	// apart, so that weights include a tournament or a task exactly when
	// the log has it before them.
	outcomeMu sync.Mutex
}

// New returns a validator.
func New(cfg Config, deps Deps) (*Validator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Store == nil || deps.Blobs == nil || deps.Models == nil || deps.Preparer == nil || deps.Evaluator == nil || deps.Links == nil {
		return nil, crucible.Errorf(crucible.EINVALID, "validator: store, blobs, models, preparer, evaluator and links are required")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Miners == nil {
		deps.Miners = protocol.HTTPMiners(http.DefaultClient, nil)
	}
	if cfg.PublicURL == "" {
		return nil, crucible.Errorf(crucible.EINVALID, "validator: the public URL miners reach it at is required")
	}
	return &Validator{cfg: cfg, spec: scoring.Default(), Deps: deps, progress: map[string]api.MinerTaskStatus{},
		unreachable: map[string]unreachableSince{}, reoffered: map[string]time.Time{}}, nil
}

// Config returns the validator's configuration.
func (v *Validator) Config() Config { return v.cfg }

// event appends a line to a task's history; failures to record it are logged,
// never fatal to the lifecycle.
func (v *Validator) event(ctx context.Context, taskID, kind, hotkey, msg string, data map[string]any) {
	e := &crucible.TaskEvent{TaskID: taskID, Kind: kind, Hotkey: hotkey, Message: msg, Data: data}
	if err := v.Store.AppendEvent(ctx, e); err != nil {
		v.Log.Warn("record event", "task", taskID, "err", err)
	}
}
