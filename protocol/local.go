package protocol

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Local connects nodes in one process: validators and miners register
// their servers by hotkey, and dial each other by hotkey, with the same
// authorization a signed HTTP request gets (Authorize) and without
// sockets. The URLs a validator hands out are read by their paths, as its
// HTTP server reads them.
type Local struct {
	// Authorize admits callers; nil admits everyone.
	Authorize Authorizer

	mu         sync.RWMutex
	miners     map[string]MinerServer
	validators map[string]ValidatorServer
}

// AddMiner registers a miner's server under its hotkey.
func (l *Local) AddMiner(hotkey string, srv MinerServer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.miners == nil {
		l.miners = map[string]MinerServer{}
	}
	l.miners[hotkey] = srv
}

// AddValidator registers a validator's server under its hotkey.
func (l *Local) AddValidator(hotkey string, srv ValidatorServer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.validators == nil {
		l.validators = map[string]ValidatorServer{}
	}
	l.validators[hotkey] = srv
}

// Miners returns the dialer of a validator with hotkey from.
func (l *Local) Miners(from string) MinerDialer {
	return func(n *crucible.Node) Miner { return &localMiner{l: l, from: from, to: n.Hotkey} }
}

// Validators returns the dialer of a miner with hotkey from.
func (l *Local) Validators(from string) ValidatorDialer {
	return func(hotkey string) Validator { return &localValidator{l: l, from: from, to: hotkey} }
}

// admit checks the caller, copying nothing that the callee could keep.
func (l *Local) admit(ctx context.Context, from string) error {
	if from == "" {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "request is not signed")
	}
	if l.Authorize != nil {
		if err := l.Authorize(ctx, from); err != nil {
			if crucible.ErrorCode(err) == crucible.ENOTFOUND {
				return crucible.Errorf(crucible.EFORBIDDEN, "%s", crucible.ErrorMessage(err))
			}
			return err
		}
	}
	return nil
}

type localMiner struct {
	l        *Local
	from, to string
}

func (m *localMiner) server(ctx context.Context) (MinerServer, error) {
	m.l.mu.RLock()
	srv, ok := m.l.miners[m.to]
	m.l.mu.RUnlock()
	if !ok {
		return nil, crucible.Errorf(crucible.EINTERNAL, "no miner %s in this process", m.to)
	}
	return srv, m.l.admit(ctx, m.from)
}

func (m *localMiner) Offer(ctx context.Context, o api.TaskOffer) (api.OfferResponse, error) {
	srv, err := m.server(ctx)
	if err != nil {
		return api.OfferResponse{}, err
	}
	return srv.Offer(ctx, m.from, o)
}

func (m *localMiner) StartTraining(ctx context.Context, req api.TrainRequest) (api.TrainResponse, error) {
	srv, err := m.server(ctx)
	if err != nil {
		return api.TrainResponse{}, err
	}
	return srv.StartTraining(ctx, m.from, req)
}

func (m *localMiner) TaskStatus(ctx context.Context, taskID string) (api.MinerTaskStatus, error) {
	srv, err := m.server(ctx)
	if err != nil {
		return api.MinerTaskStatus{}, err
	}
	return srv.TaskStatus(ctx, m.from, taskID)
}

func (m *localMiner) Announce(ctx context.Context, a api.TournamentAnnouncement) (api.AnnounceResponse, error) {
	srv, err := m.server(ctx)
	if err != nil {
		return api.AnnounceResponse{}, err
	}
	return srv.Announce(ctx, m.from, a)
}

type localValidator struct {
	l        *Local
	from, to string
}

func (v *localValidator) server() (ValidatorServer, error) {
	v.l.mu.RLock()
	defer v.l.mu.RUnlock()
	srv, ok := v.l.validators[v.to]
	if !ok {
		return nil, crucible.Errorf(crucible.EINTERNAL, "no validator %s in this process", v.to)
	}
	return srv, nil
}

func (v *localValidator) Download(ctx context.Context, link string, offset int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "download offset %d is negative", offset)
	}
	srv, err := v.server()
	if err != nil {
		return nil, err
	}
	key, q, err := splitPath(link, api.PathBlob)
	if err != nil {
		return nil, err
	}
	rc, err := srv.OpenLink(ctx, key, q)
	if err != nil || offset == 0 {
		return rc, err
	}
	past := crucible.Errorf(crucible.EINVALID, "download offset %d is past the end of the content", offset)
	if rs, ok := rc.(io.ReadSeeker); ok {
		end, err := rs.Seek(0, io.SeekEnd)
		if err == nil && offset > end {
			err = past
		}
		if err == nil {
			_, err = rs.Seek(offset, io.SeekStart)
		}
		if err != nil {
			rc.Close()
			return nil, err
		}
		return rc, nil
	}
	if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
		rc.Close()
		return nil, past
	}
	return rc, nil
}

func (v *localValidator) Upload(ctx context.Context, uploadURL string, body io.Reader) (*api.UploadResponse, error) {
	srv, err := v.server()
	if err != nil {
		return nil, err
	}
	if err := v.l.admit(ctx, v.from); err != nil {
		return nil, err
	}
	rest, _, err := splitPath(uploadURL, api.PathUpload)
	if err != nil {
		return nil, err
	}
	task, name, ok := strings.Cut(rest, "/")
	if !ok || task == "" || name == "" || strings.Contains(name, "/") {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no such endpoint: %s", uploadURL)
	}
	return srv.Upload(ctx, v.from, task, name, body)
}

func (v *localValidator) Enter(ctx context.Context, entryURL string, req api.EnterRequest) (*api.EntryReceipt, error) {
	srv, err := v.server()
	if err != nil {
		return nil, err
	}
	if err := v.l.admit(ctx, v.from); err != nil {
		return nil, err
	}
	rest, _, err := splitPath(entryURL, api.PathTournamentEntries)
	if err != nil {
		return nil, err
	}
	id, ok := strings.CutSuffix(rest, api.TournamentEntriesSuffix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no such endpoint: %s", entryURL)
	}
	// Marshal through JSON, as the HTTP transport does, so that the callee
	// cannot keep the caller's values.
	b, err := json.Marshal(req)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tournament entry")
	}
	var copied api.EnterRequest
	if err := json.Unmarshal(b, &copied); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tournament entry")
	}
	return srv.Enter(ctx, v.from, id, copied)
}

func (v *localValidator) Results(ctx context.Context, resultsURL string, after int64) ([]*crucible.ResultEntry, error) {
	srv, err := v.server()
	if err != nil {
		return nil, err
	}
	if _, err := resultsPage(resultsURL, after); err != nil {
		return nil, err
	}
	return srv.Results(ctx, v.from, after, 1000)
}

func (m *localMiner) Info(ctx context.Context) (api.MinerInfo, error) {
	srv, err := m.server(ctx)
	if err != nil {
		return api.MinerInfo{}, err
	}
	is, ok := srv.(InfoServer)
	if !ok {
		return api.MinerInfo{}, crucible.Errorf(crucible.ENOTFOUND, "miner %s answers no heartbeat", m.to)
	}
	return is.Info(ctx, m.from)
}
