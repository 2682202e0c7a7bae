package miner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/safepath"
)

// A job's work lives in WorkDir/jobs/TASK_ID: job.json (the request, the
// validator that sent it, its status and how far it got), and while it
// runs the base model, the train split, the result and the result's tar.
// A miner that restarts (even after kill -9) reads every job.json back:
// a job that was training is trained again while time remains, one whose
// result was packed is uploaded again, and finished ones keep answering
// the validator's status requests until they are forgotten.

// Phases of a job: what a restarted miner still has to do.
const (
	phaseTrain  = "train"  // download, train and pack the result
	phaseUpload = "upload" // result.tar is packed: upload it
)

// minRetrain is the least training time a job resumed after a restart
// must have before its upload margin; with less it fails at once.
const minRetrain = 5 * time.Second

// jobRecord is job.json.
type jobRecord struct {
	Request api.TrainRequest    `json:"request"`
	From    string              `json:"from"`
	Status  api.MinerTaskStatus `json:"status"`
	Phase   string              `json:"phase"`
	// ResultSize and ResultSHA256 describe result.tar once packed.
	ResultSize   int64  `json:"result_size,omitempty"`
	ResultSHA256 string `json:"result_sha256,omitempty"`
}

// jobsDir is where jobs live.
func (m *Miner) jobsDir() string { return filepath.Join(m.cfg.WorkDir, "jobs") }

// dirOf is a job's directory.
func (m *Miner) dirOf(taskID string) (string, error) { return safepath.Join(m.jobsDir(), taskID) }

// persist writes j's record (atomically: a crash leaves the old or the new
// one). Failures are logged: the job goes on, it just would not survive a
// restart.
func (m *Miner) persist(j *jobState) {
	m.mu.Lock()
	rec := jobRecord{Request: j.req, From: j.from, Status: j.status, Phase: j.phase, ResultSize: j.resultSize, ResultSHA256: j.resultSHA256}
	m.mu.Unlock()
	if err := writeRecord(j.dir, &rec); err != nil {
		m.log.Warn("cannot record the job; it would not survive a restart", "task", j.req.TaskID, "err", err)
	}
}

// finish records a job's final status on disk, then shows it: whoever sees
// a job done or failed finds its record written.
func (m *Miner) finish(j *jobState, f func(*api.MinerTaskStatus)) {
	m.mu.Lock()
	st := j.status
	f(&st)
	st.UpdatedAt = m.now()
	rec := jobRecord{Request: j.req, From: j.from, Status: st, Phase: j.phase, ResultSize: j.resultSize, ResultSHA256: j.resultSHA256}
	m.mu.Unlock()
	if err := writeRecord(j.dir, &rec); err != nil {
		m.log.Warn("cannot record the job's end", "task", j.req.TaskID, "err", err)
	}
	m.mu.Lock()
	j.status = st
	m.mu.Unlock()
}

func writeRecord(dir string, rec *jobRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".job-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone once renamed; removed if anything failed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, "job.json"))
}

// restore reads the jobs a previous run left and returns those to run
// again. Records that cannot be read are set aside (renamed), never
// trusted.
func (m *Miner) restore() []*jobState {
	ents, err := os.ReadDir(m.jobsDir())
	if err != nil {
		return nil
	}
	now := m.now()
	var resume []*jobState
	for _, e := range ents {
		if !e.IsDir() || !crucible.ValidID(e.Name()) {
			continue
		}
		dir, _ := m.dirOf(e.Name())
		rec, err := readRecord(dir)
		if err != nil || rec.Request.TaskID != e.Name() {
			m.log.Warn("unreadable job left by an earlier run; removing it", "dir", dir, "err", err)
			os.RemoveAll(dir)
			continue
		}
		j := &jobState{req: rec.Request, from: rec.From, status: rec.Status, phase: rec.Phase, dir: dir,
			resultSize: rec.ResultSize, resultSHA256: rec.ResultSHA256}
		switch {
		case now.After(j.req.Deadline.Add(m.cfg.KeepFinished)):
			os.RemoveAll(dir)
			continue
		case j.status.State == api.JobDone || j.status.State == api.JobFailed:
			clearWork(dir)
		case j.phase == phaseUpload && now.Before(j.req.Deadline):
			j.status.State, j.status.Message = api.JobUploading, "uploading the result again after a restart"
			resume = append(resume, j)
		case j.phase != phaseUpload && j.req.Deadline.Add(-m.cfg.UploadMargin).Sub(now) >= minRetrain:
			j.phase = phaseTrain
			j.status.State, j.status.Message = api.JobQueued, "queued again after a restart: training starts over"
			j.status.Progress, j.status.Step, j.status.TrainLoss, j.status.TrainReward = 0, 0, nil, nil
			resume = append(resume, j)
		default:
			j.status.State = api.JobFailed
			j.status.Message = fmt.Sprintf("the miner restarted while the job was %s, too close to the deadline to finish it", rec.Status.State)
			clearWork(dir)
		}
		j.status.UpdatedAt = now
		m.jobs[j.req.TaskID] = j
		m.persist(j)
		m.log.Info("job restored", "task", j.req.TaskID, "state", j.status.State, "phase", j.phase)
	}
	return resume
}

func readRecord(dir string) (*jobRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "job.json"))
	if err != nil {
		return nil, err
	}
	var rec jobRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, err
	}
	if !crucible.ValidID(rec.Request.TaskID) {
		return nil, errors.New("the record names no valid task")
	}
	return &rec, nil
}

// clearWork removes what a job downloaded and produced, keeping its record.
func clearWork(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.Name() != "job.json" {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// forget removes the finished jobs whose deadline passed more than
// KeepFinished ago: their records and directories. Run calls it every
// minute.
func (m *Miner) forget() {
	now := m.now()
	m.mu.Lock()
	var old []*jobState
	for id, j := range m.jobs {
		done := j.status.State == api.JobDone || j.status.State == api.JobFailed
		if done && now.After(j.req.Deadline.Add(m.cfg.KeepFinished)) {
			old = append(old, j)
			delete(m.jobs, id)
		}
	}
	m.mu.Unlock()
	for _, j := range old {
		if err := os.RemoveAll(j.dir); err != nil {
			m.log.Warn("cannot remove a finished job's directory", "dir", j.dir, "err", err)
		}
	}
}
