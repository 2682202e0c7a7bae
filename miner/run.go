package miner

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
	"github.com/crucible-net/crucible/safepath"
)

func jobDir(job *Job) string { return filepath.Dir(job.OutDir) }

// run downloads, trains and uploads one job, recording the outcome in its
// status. It never panics the miner: every failure becomes a failed status.
func (m *Miner) run(ctx context.Context, j *jobState) {
	req := j.req
	v := m.validators(j.from)
	dir, err := safepath.Join(m.cfg.WorkDir, req.TaskID)
	if err == nil {
		err = m.train(ctx, j, v, dir)
	}
	if err == nil {
		err = m.upload(ctx, j, v, filepath.Join(dir, "out"))
	}
	if err != nil {
		m.log.Warn("task failed", "task", req.TaskID, "err", err)
		m.update(j, func(s *api.MinerTaskStatus) { s.State, s.Message = api.JobFailed, err.Error() })
		return
	}
	m.log.Info("task done", "task", req.TaskID)
}

func (m *Miner) train(ctx context.Context, j *jobState, v protocol.Validator, dir string) error {
	req := j.req
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	for _, d := range []string{"model", "out"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	deadline := req.Deadline.Add(-m.cfg.UploadMargin)
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	m.update(j, func(s *api.MinerTaskStatus) {
		s.State, s.Message = api.JobTraining, "downloading the base model and train split"
	})
	if err := download(tctx, v, req.ModelURL, func(r io.Reader) error {
		_, err := api.ExtractTar(r, filepath.Join(dir, "model"), api.ExtractLimits{})
		return err
	}); err != nil {
		return fmt.Errorf("download base model: %w", err)
	}
	dataPath := filepath.Join(dir, "train.jsonl")
	if err := downloadFile(tctx, v, req.DatasetURL, dataPath, req.DatasetSize, req.DatasetSHA256, m.log); err != nil {
		return fmt.Errorf("download train split: %w", err)
	}
	job := &Job{
		TaskID: req.TaskID, TaskType: req.TaskType, Model: req.Model,
		ModelDir: filepath.Join(dir, "model"), DataPath: dataPath, Mapping: req.Mapping, Rewards: req.Rewards,
		HoursToComplete: req.HoursToComplete, Deadline: deadline, OutDir: filepath.Join(dir, "out"),
		DataSHA256: req.DatasetSHA256, Validator: j.from,
	}
	if req.ResultsURL != "" {
		job.Results = func(ctx context.Context, after int64) ([]*crucible.ResultEntry, error) {
			return v.Results(ctx, req.ResultsURL, after)
		}
	}
	m.update(j, func(s *api.MinerTaskStatus) { s.Message = "training with " + m.strategy.Name() })
	start := time.Now()
	err := m.strategy.Train(tctx, job, func(p Progress) {
		m.update(j, func(s *api.MinerTaskStatus) {
			s.Progress, s.Step, s.TrainLoss, s.TrainReward = p.Fraction, p.Step, p.Loss, p.Reward
			if p.Message != "" {
				s.Message = p.Message
			}
		})
	})
	if err != nil {
		return fmt.Errorf("training with %s: %w", m.strategy.Name(), err)
	}
	if err := checkResult(job.OutDir); err != nil {
		return fmt.Errorf("training with %s left no usable result: %w", m.strategy.Name(), err)
	}
	m.log.Info("training finished", "task", req.TaskID, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// download opens a link the validator handed out and hands its content to
// consume.
func download(ctx context.Context, v protocol.Validator, link string, consume func(io.Reader) error) error {
	rc, err := v.Download(ctx, link, 0)
	if err != nil {
		return err
	}
	defer rc.Close()
	return consume(rc)
}

// upload streams a tar of the result to the validator before the deadline.
func (m *Miner) upload(ctx context.Context, j *jobState, v protocol.Validator, out string) error {
	req := j.req
	m.update(j, func(s *api.MinerTaskStatus) { s.State, s.Message = api.JobUploading, "uploading the result" })
	uctx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(api.WriteTar(pw, out)) }()
	receipt, err := v.Upload(uctx, req.UploadURL, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	m.update(j, func(s *api.MinerTaskStatus) {
		s.State, s.Progress = api.JobDone, 1
		s.Message = fmt.Sprintf("uploaded %d bytes, sha256 %s", receipt.Size, receipt.SHA256)
	})
	return nil
}
