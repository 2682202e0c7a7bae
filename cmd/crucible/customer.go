package main

import (
	"context"
	"io"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/server"
	"github.com/crucible-net/crucible/server/uploads"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// customerBackend presents a validator node to the customer API and the
// dashboard (server.Backend).
type customerBackend struct {
	*sqlstore.Store
	n        *validatorNode
	uploads  *uploads.Store
	datasets interface{ Resolve(string) (string, error) } // uploads.Resolver over the hub cache
	models   validator.Models
	names    []string // the models customers may pick
	split    data.SplitOptions
	minRows  int
	hours    float64 // the validator's default budget; 0 picks one from the rows
}

func (b *customerBackend) Submit(ctx context.Context, t *crucible.Task) error {
	return b.n.submit(ctx, t)
}

func (b *customerBackend) Cancel(ctx context.Context, t *crucible.Task) error {
	if err := server.CancelTask(ctx, b.Store, t.ID, "cancelled by the customer"); err != nil {
		return err
	}
	b.n.kick(ctx, t.ID) // the lifecycle job sees the terminal status and ends
	return nil
}

func (b *customerBackend) OpenArtifact(ctx context.Context, key string) (io.ReadCloser, error) {
	return b.n.v.Blobs.Get(ctx, key)
}

func (b *customerBackend) Estimate(ctx context.Context, req api.CreateTaskRequest) (*api.Estimate, error) {
	path, err := b.datasets.Resolve(req.Dataset)
	if err != nil {
		return nil, err
	}
	est, err := uploads.EstimateData(path, req.Dataset, req, b.split)
	if err != nil {
		return nil, err
	}
	if est.Rows < b.minRows {
		return nil, crucible.Errorf(crucible.EINVALID, "dataset %s has %d rows; a task needs at least %d", req.Dataset, est.Rows, b.minRows)
	}
	dir, err := b.models.ResolveModel(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	if est.ModelParams, err = validator.CountParams(dir); err != nil {
		return nil, err
	}
	est.Hours = req.Hours
	if est.Hours == 0 {
		est.Hours = b.hours
	}
	if est.Hours == 0 {
		est.Hours = validator.HoursFor(est.TrainRows)
	}
	est.ETA = time.Duration(est.Hours*float64(time.Hour)) + 2*time.Minute
	est.Cost, est.CostUnit = est.Hours*float64(est.ModelParams)/1e9, "hours × billions of parameters"
	nodes, err := b.FindNodes(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if !n.Validator {
			est.Miners++
		}
	}
	return est, nil
}

func (b *customerBackend) SaveUpload(ctx context.Context, name string, r io.Reader) (*api.DatasetUpload, error) {
	return b.uploads.Save(ctx, name, r)
}

func (b *customerBackend) Models() []string   { return b.names }
func (b *customerBackend) Datasets() []string { return nil }
