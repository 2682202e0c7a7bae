package validatornode

import (
	"context"
	"io"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/reward"
	"github.com/crucible-net/crucible/server"
	"github.com/crucible-net/crucible/server/uploads"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// backend presents a validator node to the customer API and the dashboard
// (server.Backend).
type backend struct {
	*sqlstore.Store
	n *Node
}

var _ server.Backend = backend{}

func (b backend) Submit(ctx context.Context, t *crucible.Task) error { return b.n.Submit(ctx, t) }

func (b backend) Cancel(ctx context.Context, t *crucible.Task) error {
	return b.n.Cancel(ctx, t.ID, "cancelled by the customer")
}

func (b backend) OpenArtifact(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.n.blobs.Get(ctx, key)
}

func (b backend) Estimate(ctx context.Context, req api.CreateTaskRequest) (*api.Estimate, error) {
	return b.n.Estimate(ctx, req)
}

func (b backend) SaveUpload(ctx context.Context, account, name string, r io.Reader) (*api.DatasetUpload, error) {
	return b.n.up.Save(ctx, account, name, r)
}

func (b backend) FindUpload(ctx context.Context, account, id string) (*api.DatasetUpload, error) {
	return b.n.up.FindOwned(account, id)
}

func (b backend) BeginUpload(ctx context.Context, account string, req api.BeginUpload, max int64) (*api.UploadSession, error) {
	return b.n.up.Begin(account, req, max)
}

func (b backend) AppendUpload(ctx context.Context, account, id string, offset int64, r io.Reader) (*api.UploadSession, error) {
	return b.n.up.Append(ctx, account, id, offset, r)
}

func (b backend) UploadSession(ctx context.Context, account, id string) (*api.UploadSession, error) {
	return b.n.up.Session(account, id)
}

func (b backend) AbortUpload(ctx context.Context, account, id string) error {
	return b.n.up.Abort(account, id)
}

func (b backend) BaseLoss(ctx context.Context, taskID string) (*float64, error) {
	e, err := b.n.store.FindEvaluation(ctx, taskID)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.BaseLoss, nil
}

// BaseReward is a grpo task's base model evaluation, nil until measured.
func (b backend) BaseReward(ctx context.Context, taskID string) (*crucible.RewardResult, error) {
	e, err := b.n.store.FindEvaluation(ctx, taskID)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return e.BaseReward, nil
}

func (b backend) Models() []string   { return b.n.names }
func (b backend) Datasets() []string { return nil }

// CostUnit is what an estimate's cost counts: compute as the time budget
// times the base model's size.
const CostUnit = "hours × billions of parameters"

// Estimate resolves a task request's dataset and model and says what the
// task would take: its rows and split, the type and column mapping
// detected, the time budget (the request's, else the validator's default,
// else one chosen from the train rows), when results come (the budget plus
// two minutes for preparation and evaluation), the cost (hours × billions
// of parameters) and how many miners are online. Returns EINVALID for a
// dataset smaller than the validator's minimum or one that does not fit
// the request, ENOTFOUND for a dataset or model that does not exist.
func (n *Node) Estimate(ctx context.Context, req api.CreateTaskRequest) (*api.Estimate, error) {
	path, err := n.ds.Resolve(req.Dataset)
	if err != nil {
		return nil, err
	}
	est, err := uploads.EstimateData(path, req.Dataset, req, n.split)
	if err != nil {
		return nil, err
	}
	est.DatasetName = n.up.DisplayName(req.Dataset)
	if est.Rows < n.cfg.MinRows {
		return nil, crucible.Errorf(crucible.EINVALID, "dataset %s has %d rows; a task needs at least %d", req.Dataset, est.Rows, n.cfg.MinRows)
	}
	dir, err := n.models.ResolveModel(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	if est.ModelParams, err = countParams(dir); err != nil {
		return nil, err
	}
	est.Hours = req.Hours
	if est.Hours == 0 {
		est.Hours = n.cfg.DefaultHours
	}
	if est.Hours == 0 {
		est.Hours = validator.HoursFor(est.TrainRows)
	}
	est.ETA = time.Duration(est.Hours*float64(time.Hour)) + 2*time.Minute
	est.Cost, est.CostUnit = est.Hours*float64(est.ModelParams)/1e9, CostUnit
	if n.prices != nil {
		tokens := datasetBytes(path) / 4
		price, basis, ok := n.prices.Quote(est.ModelParams, est.Hours, tokens)
		if !ok {
			return nil, crucible.Errorf(crucible.EINVALID, "this validator prices no model of %d parameters", est.ModelParams).
				WithHint("pick a smaller model")
		}
		est.Price, est.Currency, est.PriceBasis = price, n.prices.Currency, basis
	}
	if est.Miners, est.MinersFit, est.Warnings, err = n.fleet(ctx, est.Type, est.ModelParams, est.Hours); err != nil {
		return nil, err
	}
	return est, nil
}

func (b backend) Announce(ctx context.Context, s crucible.TournamentSettings) (*crucible.Tournament, error) {
	return b.n.Announce(ctx, s)
}

func (b backend) SeedChampion(ctx context.Context, hotkey string, m crucible.Method) (*crucible.Champion, error) {
	return b.n.SeedChampion(ctx, hotkey, m)
}

var _ server.Tournamenter = backend{}

// RewardBuiltins lists the built-in grpo rewards the dashboard's new-task
// form offers.
func (b backend) RewardBuiltins() []api.RewardBuiltin {
	var out []api.RewardBuiltin
	for _, r := range reward.Builtins() {
		out = append(out, api.RewardBuiltin{Name: r.Name, Doc: r.Doc, Range: r.Range, Args: r.Args})
	}
	return out
}

// CheckGRPO runs a grpo task's rewards on its dataset's first rows, as
// Submit does, so that the dashboard's form shows a failing reward before
// the customer confirms the task.
func (b backend) CheckGRPO(ctx context.Context, t *crucible.Task) error { return b.n.checkGRPO(ctx, t) }
