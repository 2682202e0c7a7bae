package miner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
)

func jobDir(job *Job) string { return filepath.Dir(job.OutDir) }

// run downloads, trains, packs and uploads one job (or only uploads it,
// when a restart found its result packed), recording the outcome in its
// status. It never panics the miner: every failure becomes a failed
// status, except the miner's own shutdown, which leaves the job to be
// resumed by the next run.
func (m *Miner) run(ctx context.Context, j *jobState) {
	req := j.req
	v := m.validators(j.from)
	var err error
	if j.phase != phaseUpload {
		if err = m.train(ctx, j, v); err == nil {
			err = m.pack(j)
		}
	}
	var receipt *api.UploadResponse
	if err == nil {
		receipt, err = m.upload(ctx, j, v)
	}
	if ctx.Err() != nil && m.now().Before(req.Deadline) {
		m.log.Info("miner stopping; the job resumes at the next start", "task", req.TaskID)
		return
	}
	clearWork(j.dir) // the base model's copy, the split, the result: no longer needed
	if err != nil {
		m.log.Warn("task failed", "task", req.TaskID, "err", err)
		m.finish(j, func(s *api.MinerTaskStatus) { s.State, s.Message = api.JobFailed, err.Error() })
		return
	}
	m.finish(j, func(s *api.MinerTaskStatus) {
		s.State, s.Progress = api.JobDone, 1
		s.Message = fmt.Sprintf("uploaded %d bytes, sha256 %s", receipt.Size, receipt.SHA256)
	})
	m.log.Info("task done", "task", req.TaskID)
}

func (m *Miner) train(ctx context.Context, j *jobState, v protocol.Validator) error {
	req, dir := j.req, j.dir
	clearWork(dir) // a run cut short leaves partial downloads and outputs
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
	m.persist(j)
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
	tokensPath := ""
	if req.TokensURL != "" {
		tokensPath = filepath.Join(dir, "train.tokens.safetensors")
		if err := downloadFile(tctx, v, req.TokensURL, tokensPath, 0, "", m.log); err != nil {
			return fmt.Errorf("download the train split's token file: %w", err)
		}
	}
	job := &Job{
		TaskID: req.TaskID, TaskType: req.TaskType, Model: req.Model, TokensPath: tokensPath,
		ModelDir: filepath.Join(dir, "model"), DataPath: dataPath, Mapping: req.Mapping, Rewards: req.Rewards, Hints: req.Hints,
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

// pack writes the result as result.tar beside it, records its size and
// hash (the job is now in its upload phase, which a restart resumes), and
// removes what training needed.
func (m *Miner) pack(j *jobState) error {
	out, tarPath := filepath.Join(j.dir, "out"), filepath.Join(j.dir, "result.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		return fmt.Errorf("pack the result: %w", err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	err = api.WriteTar(cw, out)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pack the result: %w", err)
	}
	if cw.n > m.cfg.MaxUploadBytes {
		return fmt.Errorf("the result is %d bytes, more than this miner uploads (--max-upload-bytes %d)", cw.n, m.cfg.MaxUploadBytes)
	}
	m.mu.Lock()
	j.phase, j.resultSize, j.resultSHA256 = phaseUpload, cw.n, hex.EncodeToString(h.Sum(nil))
	m.mu.Unlock()
	m.persist(j)
	for _, name := range []string{"model", "out", "out.work", "train.jsonl"} {
		os.RemoveAll(filepath.Join(j.dir, name))
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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

// uploadWait is the pause before another upload attempt; tests shorten
// it.
var uploadWait = func(try int) time.Duration {
	d := time.Duration(1<<min(try, 5)) * time.Second // 2 s, 4 s, ... 32 s
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

// upload sends result.tar to the validator before the deadline. A failure
// the validator may get over (it restarted, the network broke, it is
// busy) is retried with a growing pause until the deadline; a refusal that
// will not change (the task no longer takes results, the result is too
// large, this miner has no part in it) ends the job at once.
func (m *Miner) upload(ctx context.Context, j *jobState, v protocol.Validator) (*api.UploadResponse, error) {
	req := j.req
	m.update(j, func(s *api.MinerTaskStatus) { s.State, s.Message = api.JobUploading, "uploading the result" })
	m.persist(j)
	uctx, cancel := context.WithDeadline(ctx, req.Deadline)
	defer cancel()
	tarPath := filepath.Join(j.dir, "result.tar")
	for try := 1; ; try++ {
		receipt, err := m.uploadOnce(uctx, v, req.UploadURL, tarPath, j.resultSize, j.resultSHA256)
		if err == nil {
			if receipt.SHA256 != j.resultSHA256 || receipt.Size != j.resultSize {
				return nil, fmt.Errorf("upload: the validator received %d bytes with sha256 %s, not the %d bytes with sha256 %s sent",
					receipt.Size, receipt.SHA256, j.resultSize, j.resultSHA256)
			}
			return receipt, nil
		}
		switch crucible.ErrorCode(err) {
		case crucible.EFORBIDDEN, crucible.ECONFLICT, crucible.ETOOLARGE, crucible.EINVALID, crucible.ENOTFOUND:
			return nil, fmt.Errorf("upload refused: %w", err)
		}
		wait := uploadWait(try)
		if uctx.Err() != nil || m.now().Add(wait).After(req.Deadline) {
			return nil, fmt.Errorf("upload: no attempt succeeded before the deadline (%d tries); the last: %w", try, err)
		}
		m.log.Warn("upload failed; trying again", "task", req.TaskID, "try", try, "in", wait.Round(time.Second), "err", err)
		m.update(j, func(s *api.MinerTaskStatus) {
			s.Message = fmt.Sprintf("upload try %d failed (%v); trying again in %s", try, err, wait.Round(time.Second))
		})
		select {
		case <-time.After(wait):
		case <-uctx.Done():
		}
	}
}

// uploadOnce sends the result tar once, as a file of known size and hash
// (so that it is signed without being read twice, and resent from the
// start on a retry).
func (m *Miner) uploadOnce(ctx context.Context, v protocol.Validator, url, path string, size int64, sum string) (*api.UploadResponse, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return v.Upload(ctx, url, &protocol.File{File: f, Size: size, SHA256: sum})
}
