package miner

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
)

// Miner is one miner node. It is the miner's side of the node protocol
// (protocol.MinerServer): serve it with protocol.MinerHandler or register
// it with a protocol.Local.
type Miner struct {
	cfg        Config
	strategy   Strategy
	validators protocol.ValidatorDialer // reaches the validator that started a job, as this miner
	log        *slog.Logger
	now        func() time.Time

	// checkURL, when set, says whether a URL the validator from handed
	// out may be fetched (SetURLCheck).
	checkURL func(ctx context.Context, from, rawURL string) error

	mu       sync.Mutex
	reserved map[string]time.Time   // task → when its reservation lapses
	identity Identity               // signs tournament entries; nil enters none
	entries  map[string]*entryState // validator/tournament → the entry's fate
	jobs     map[string]*jobState
	queue    chan *jobState
	wg       sync.WaitGroup
}

type jobState struct {
	req    api.TrainRequest
	from   string // the validator that started the job
	status api.MinerTaskStatus
	dir    string // its directory, WorkDir/jobs/TASK_ID
	phase  string // phaseTrain or phaseUpload
	// resultSize and resultSHA256 describe result.tar once packed.
	resultSize   int64
	resultSHA256 string
}

// New returns a miner that reaches validators with validators (over HTTP,
// its requests must be signed with the miner's hotkey: the validator's
// upload endpoint verifies them).
func New(cfg Config, strategy Strategy, validators protocol.ValidatorDialer, log *slog.Logger) (*Miner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("miner work dir: %w", err)
	}
	m := &Miner{
		cfg: cfg, strategy: strategy, validators: validators, log: log, now: time.Now,
		reserved: map[string]time.Time{},
		entries:  map[string]*entryState{},
		jobs:     map[string]*jobState{},
	}
	// Jobs an earlier run left (it may have been killed) run again first.
	resume := m.restore()
	m.queue = make(chan *jobState, cfg.MaxJobs+cfg.MaxQueued+len(resume))
	for _, j := range resume {
		m.queue <- j
	}
	return m, nil
}

// SetURLCheck sets the policy that start_training's URLs must pass before
// a job is queued: check returns an error (EFORBIDDEN) for a URL the
// validator with hotkey from may not send this miner to. Call it before
// the miner serves.
func (m *Miner) SetURLCheck(check func(ctx context.Context, from, rawURL string) error) {
	m.checkURL = check
}

// Run trains queued jobs with MaxJobs workers until ctx is done, then waits
// for the running jobs to stop.
func (m *Miner) Run(ctx context.Context) error {
	for i := 0; i < m.cfg.MaxJobs; i++ {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-m.queue:
					m.run(ctx, j)
				}
			}
		}()
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for stop := false; !stop; {
		select {
		case <-t.C:
			m.forget() // finished jobs past their deadline
		case <-ctx.Done():
			stop = true
		}
	}
	m.wg.Wait()
	return nil
}

// load counts the jobs holding a slot: queued, training, uploading, and
// unexpired reservations. Callers hold m.mu.
func (m *Miner) load() int {
	now := m.now()
	n := 0
	for id, until := range m.reserved {
		if now.After(until) {
			delete(m.reserved, id)
			continue
		}
		if _, started := m.jobs[id]; !started {
			n++
		}
	}
	for _, j := range m.jobs {
		switch j.status.State {
		case api.JobQueued, api.JobTraining, api.JobUploading:
			n++
		}
	}
	return n
}

// Offer applies the accept policy to an offer from the validator with
// hotkey from and, when it accepts, reserves a slot for the task. A refusal
// is an answer, never an error.
func (m *Miner) Offer(_ context.Context, from string, o api.TaskOffer) (api.OfferResponse, error) {
	return m.offer(o), nil
}

func (m *Miner) offer(o api.TaskOffer) api.OfferResponse {
	no := func(format string, args ...any) api.OfferResponse {
		return api.OfferResponse{Accepted: false, Message: fmt.Sprintf(format, args...)}
	}
	if !crucible.ValidID(o.TaskID) {
		return no("offer's task_id %q is not an id", o.TaskID)
	}
	if !m.cfg.acceptsType(o.TaskType) {
		return no("this miner does not train %s tasks", o.TaskType)
	}
	if o.ModelParamsCount > m.cfg.MaxParams {
		return no("model has %d parameters; this miner takes up to %d", o.ModelParamsCount, m.cfg.MaxParams)
	}
	if o.HoursToComplete < m.cfg.MinHours || o.HoursToComplete > m.cfg.MaxHours {
		return no("time budget %.3gh is outside this miner's range %.3g–%.3gh", o.HoursToComplete, m.cfg.MinHours, m.cfg.MaxHours)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[o.TaskID]; ok {
		return no("already training task %s", o.TaskID)
	}
	if _, ok := m.reserved[o.TaskID]; !ok && m.load() >= m.cfg.MaxJobs+m.cfg.MaxQueued {
		return no("at capacity (%d jobs)", m.cfg.MaxJobs+m.cfg.MaxQueued)
	}
	m.reserved[o.TaskID] = m.now().Add(m.cfg.ReserveFor)
	return api.OfferResponse{Accepted: true, Message: fmt.Sprintf("accepted; training with %s", m.strategy.Name())}
}

// Info declares what the miner takes: its strategy, task types, budget
// range, largest model and free slots (the validator's heartbeat).
func (m *Miner) Info(_ context.Context, from string) (api.MinerInfo, error) {
	m.mu.Lock()
	free := max(m.cfg.MaxJobs+m.cfg.MaxQueued-m.load(), 0)
	m.mu.Unlock()
	var types []crucible.TaskType
	for _, t := range crucible.TaskTypes {
		if m.cfg.acceptsType(t) {
			types = append(types, t)
		}
	}
	return api.MinerInfo{Strategy: m.strategy.Name(), TaskTypes: types, MinHours: m.cfg.MinHours, MaxHours: m.cfg.MaxHours,
		MaxParams: m.cfg.MaxParams, FreeSlots: free}, nil
}

// StartTraining queues a job the validator with hotkey from (the verified
// signer of the request) chose this miner for. It returns EINVALID for a
// malformed request, ECONFLICT for a task already started, and ECONFLICT
// when the miner has no free slot.
func (m *Miner) StartTraining(ctx context.Context, from string, req api.TrainRequest) (api.TrainResponse, error) {
	if err := m.start(ctx, req, from); err != nil {
		return api.TrainResponse{}, err
	}
	return api.TrainResponse{TaskID: req.TaskID, Message: "queued"}, nil
}

func (m *Miner) start(ctx context.Context, req api.TrainRequest, from string) error {
	if err := crucible.CheckID("start_training: task_id", req.TaskID); err != nil {
		return err
	}
	if err := crucible.CheckID("start_training: expected_name", req.ExpectedName); err != nil {
		return err
	}
	urls := []struct{ field, url string }{{"model_url", req.ModelURL}, {"dataset_url", req.DatasetURL}, {"upload_url", req.UploadURL}}
	if req.ResultsURL != "" {
		urls = append(urls, struct{ field, url string }{"results_url", req.ResultsURL})
	}
	if req.TokensURL != "" {
		// Optional: validators that write no token file send none.
		urls = append(urls, struct{ field, url string }{"tokens_url", req.TokensURL})
	}
	for _, u := range urls {
		if err := checkURL(u.field, u.url); err != nil {
			return err
		}
		if m.checkURL != nil {
			if err := m.checkURL(ctx, from, u.url); err != nil {
				return &crucible.Error{Code: crucible.ErrorCode(err), Message: "start_training: " + u.field + ": " + crucible.ErrorMessage(err),
					Hint: crucible.ErrorHint(err), Err: err}
			}
		}
	}
	switch {
	case !req.TaskType.Valid():
		return crucible.Errorf(crucible.EINVALID, "start_training: unknown task_type %q", req.TaskType)
	case req.DatasetSize < 0 || (req.DatasetSHA256 != "" && !sha256Hex(req.DatasetSHA256)):
		return crucible.Errorf(crucible.EINVALID, "start_training: dataset_size %d or dataset_sha256 %q is malformed", req.DatasetSize, req.DatasetSHA256)
	case req.HoursToComplete <= 0 || req.HoursToComplete > 24*7:
		return crucible.Errorf(crucible.EINVALID, "start_training: hours_to_complete %g is out of range", req.HoursToComplete)
	case !req.Deadline.After(m.now()):
		return crucible.Errorf(crucible.EINVALID, "start_training: the deadline %s has passed", req.Deadline.Format(time.RFC3339))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[req.TaskID]; ok {
		return crucible.Errorf(crucible.ECONFLICT, "task %s is already started", req.TaskID)
	}
	_, reserved := m.reserved[req.TaskID]
	if !reserved && m.load() >= m.cfg.MaxJobs+m.cfg.MaxQueued {
		return crucible.Errorf(crucible.ECONFLICT, "at capacity; offer the task first")
	}
	dir, err := m.dirOf(req.TaskID)
	if err != nil {
		return err
	}
	j := &jobState{req: req, from: from, dir: dir, phase: phaseTrain,
		status: api.MinerTaskStatus{TaskID: req.TaskID, State: api.JobQueued, UpdatedAt: m.now()}}
	// Recorded before it is acknowledged: a job the validator believes
	// started survives a crash of this miner.
	rec := jobRecord{Request: req, From: from, Status: j.status, Phase: j.phase}
	if err := writeRecord(dir, &rec); err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "record the job")
	}
	select {
	case m.queue <- j:
	default:
		os.RemoveAll(dir)
		return crucible.Errorf(crucible.ECONFLICT, "job queue is full")
	}
	delete(m.reserved, req.TaskID)
	m.jobs[req.TaskID] = j
	m.log.Info("task queued", "task", req.TaskID, "type", req.TaskType, "model", req.Model, "deadline", req.Deadline)
	return nil
}

// TaskStatus reports on a task to the validator that started it. Returns
// ENOTFOUND for a task this miner never started, or another validator
// started: one validator's tasks are none of another's business.
func (m *Miner) TaskStatus(_ context.Context, from, taskID string) (api.MinerTaskStatus, error) {
	if !crucible.ValidID(taskID) {
		return api.MinerTaskStatus{}, crucible.CheckID("task id", taskID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[taskID]
	if !ok || (from != j.from && j.from != "") {
		return api.MinerTaskStatus{}, crucible.Errorf(crucible.ENOTFOUND, "no task %s on this miner", taskID)
	}
	return j.status, nil
}

func (m *Miner) update(j *jobState, f func(*api.MinerTaskStatus)) {
	m.mu.Lock()
	f(&j.status)
	j.status.UpdatedAt = m.now()
	m.mu.Unlock()
}

// checkURL checks that a URL a validator handed out is an absolute http(s)
// URL with a host and no credentials; where it may point is the
// CheckURL hook's business (Config.CheckURL).
func checkURL(field, raw string) error {
	bad := func(why string) error {
		return crucible.Errorf(crucible.EINVALID, "start_training: %s %q: %s", field, trunc(raw, 200), why)
	}
	if raw == "" {
		return bad("it is required")
	}
	if len(raw) > 4096 {
		return bad("it is longer than 4096 bytes")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("it is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("only http and https URLs are fetched")
	case u.Host == "" || u.Hostname() == "":
		return bad("it names no host")
	case u.User != nil:
		return bad("it carries credentials")
	}
	return nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sha256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
