package uploads

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Limits of resumable uploads.
const (
	// SessionTTL is how long a session may go untouched before it is
	// removed, bytes and all.
	SessionTTL = 24 * time.Hour
	// MaxOpenSessions is how many sessions one account may have receiving
	// or checking at once.
	MaxOpenSessions = 3
	// freeMargin is the disk space a session must leave free beyond its
	// size (the split and the token files come after).
	freeMargin = 1 << 30
)

// session is a resumable upload's record, kept as sessions/ID/session.json
// beside its bytes, sessions/ID/file/NAME (named so that the dataset
// readers know its format; the file folder becomes the upload's folder
// once its rows pass the check).
type session struct {
	ID      string             `json:"id"`
	Owner   string             `json:"owner"`
	Name    string             `json:"name"`
	Size    int64              `json:"size"`
	SHA256  string             `json:"sha256,omitempty"` // as the customer announced it
	State   string             `json:"state"`
	Touched time.Time          `json:"touched"`
	Upload  *api.DatasetUpload `json:"upload,omitempty"`
}

// sessions holds what is not on disk: a lock per session, so that two
// requests never write one file at once, and the checks running.
type sessions struct {
	mu      sync.Mutex
	locks   map[string]*sync.Mutex
	checked map[string]bool // the checks running
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Store) sessionDir(id string) string { return filepath.Join(s.dir, "sessions", id) }

// dataPath is where a session's bytes go.
func (s *Store) dataPath(se *session) string {
	return filepath.Join(s.sessionDir(se.ID), "file", se.Name)
}

func (s *Store) lock(id string) func() {
	s.sess.mu.Lock()
	if s.sess.locks == nil {
		s.sess.locks, s.sess.checked = map[string]*sync.Mutex{}, map[string]bool{}
	}
	l, ok := s.sess.locks[id]
	if !ok {
		l = &sync.Mutex{}
		s.sess.locks[id] = l
	}
	s.sess.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Begin starts a resumable upload of a file name of size bytes for owner
// (an account id), refusing a size over max, a disk without room for it,
// and an owner with MaxOpenSessions open already. Returns EINVALID,
// ETOOLARGE, ECONFLICT.
func (s *Store) Begin(owner string, req api.BeginUpload, max int64) (*api.UploadSession, error) {
	clean, err := cleanName(req.Name)
	if err != nil {
		return nil, err
	}
	switch {
	case req.Size <= 0:
		return nil, crucible.Errorf(crucible.EINVALID, "upload size %d: must be positive", req.Size)
	case req.Size > max:
		return nil, crucible.Errorf(crucible.ETOOLARGE, "dataset %s is %d bytes, over the %d MiB limit of this validator", clean, req.Size, max>>20)
	case req.SHA256 != "" && !sha256RE.MatchString(req.SHA256):
		return nil, crucible.Errorf(crucible.EINVALID, "sha256 %q: want 64 lowercase hex digits", req.SHA256)
	}
	s.sweep()
	open := 0
	for _, se := range s.list() {
		if se.Owner == owner && (se.State == api.UploadReceiving || se.State == api.UploadChecking) {
			open++
		}
	}
	if open >= MaxOpenSessions {
		return nil, crucible.Errorf(crucible.ECONFLICT, "%d uploads of this account are open already", open).
			WithHint("finish them, or delete them (DELETE /v1/uploads/ID)")
	}
	if free, ok := freeBytes(s.dir); ok && free < req.Size+freeMargin {
		return nil, crucible.Errorf(crucible.ETOOLARGE, "the validator has no room for %d more bytes now", req.Size)
	}
	var idb [16]byte
	rand.Read(idb[:])
	se := &session{ID: hex.EncodeToString(idb[:]), Owner: owner, Name: clean, Size: req.Size, SHA256: req.SHA256,
		State: api.UploadReceiving, Touched: time.Now().UTC()}
	dir := s.sessionDir(se.ID)
	if err := os.MkdirAll(filepath.Dir(s.dataPath(se)), 0o755); err != nil {
		return nil, fmt.Errorf("begin upload: %w", err)
	}
	f, err := os.Create(s.dataPath(se))
	if err != nil {
		return nil, fmt.Errorf("begin upload: %w", err)
	}
	f.Close()
	if err := s.save(se); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s.view(se), nil
}

// Append writes r's bytes at offset, which must be what the session has
// received. Bytes past the announced size are refused (and none of that
// request's bytes kept). When the last byte arrives the rows are checked
// in the background; the session then reports checking, and done or
// refused. Returns ENOTFOUND (another owner's session too), ECONFLICT for
// a wrong offset or a session no longer receiving, EINVALID.
func (s *Store) Append(ctx context.Context, owner, id string, offset int64, r io.Reader) (*api.UploadSession, error) {
	unlock := s.lock(id)
	defer unlock()
	se, err := s.load(owner, id)
	if err != nil {
		return nil, err
	}
	if se.State != api.UploadReceiving {
		return nil, crucible.Errorf(crucible.ECONFLICT, "upload %s is %s, not receiving", id, se.State)
	}
	data := s.dataPath(se)
	st, err := os.Stat(data)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	received := st.Size()
	if offset != received {
		return nil, crucible.Errorf(crucible.ECONFLICT, "upload %s has %d bytes; send from offset %d, not %d", id, received, received, offset).
			WithHint("ask GET /v1/uploads/" + id + " where it stands")
	}
	f, err := os.OpenFile(data, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, se.Size-received+1))
	if err == nil && received+n > se.Size {
		err = crucible.Errorf(crucible.EINVALID, "more bytes than the %d announced", se.Size)
	}
	if err != nil {
		// Keep only whole requests: what this one wrote goes.
		f.Truncate(received)
		f.Close()
		if crucible.ErrorCode(err) == crucible.EINVALID {
			return nil, err
		}
		return nil, fmt.Errorf("upload %s: receive: %w", id, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	received += n
	se.Touched = time.Now().UTC()
	if received == se.Size {
		se.State = api.UploadChecking
	}
	if err := s.save(se); err != nil {
		return nil, err
	}
	if se.State == api.UploadChecking {
		s.startCheck(se)
	}
	v := s.view(se)
	v.Received = received
	return v, nil
}

// Session reports a resumable upload. A check a restart interrupted is
// started again. Returns ENOTFOUND (another owner's session too).
func (s *Store) Session(owner, id string) (*api.UploadSession, error) {
	se, err := s.load(owner, id)
	if err != nil {
		return nil, err
	}
	if se.State == api.UploadChecking {
		s.startCheck(se) // no-op while it runs
	}
	return s.view(se), nil
}

// Abort removes a session and its bytes (a kept upload stays). Returns
// ENOTFOUND, ECONFLICT while its rows are being checked.
func (s *Store) Abort(owner, id string) error {
	unlock := s.lock(id)
	defer unlock()
	se, err := s.load(owner, id)
	if err != nil {
		return err
	}
	if se.State == api.UploadChecking {
		return crucible.Errorf(crucible.ECONFLICT, "upload %s is being checked; delete it when the check ends", id)
	}
	return os.RemoveAll(s.sessionDir(id))
}

// startCheck checks a complete session's rows in the background and keeps
// the dataset (as Save does) when they pass.
func (s *Store) startCheck(se *session) {
	s.sess.mu.Lock()
	if s.sess.checked == nil {
		s.sess.locks, s.sess.checked = map[string]*sync.Mutex{}, map[string]bool{}
	}
	if s.sess.checked[se.ID] {
		s.sess.mu.Unlock()
		return
	}
	s.sess.checked[se.ID] = true
	s.sess.mu.Unlock()
	go func() {
		defer func() {
			s.sess.mu.Lock()
			delete(s.sess.checked, se.ID)
			s.sess.mu.Unlock()
		}()
		// The caller may have read the record before an earlier check
		// ended: check only what is still waiting for it.
		unlock := s.lock(se.ID)
		cur, lerr := s.load(se.Owner, se.ID)
		unlock()
		if lerr != nil || cur.State != api.UploadChecking {
			return
		}
		up, err := s.finish(se)
		unlock = s.lock(se.ID)
		defer unlock()
		cur, lerr = s.load(se.Owner, se.ID)
		if lerr != nil || cur.State != api.UploadChecking {
			return // aborted meanwhile
		}
		cur.Touched = time.Now().UTC()
		cur.Upload = up
		cur.State = api.UploadDone
		if err != nil {
			cur.State = api.UploadRefused
			if cur.Upload == nil {
				cur.Upload = &api.DatasetUpload{Name: cur.Name, Size: cur.Size, Errors: []string{crucible.ErrorMessage(err)}}
			}
		}
		s.save(cur)
		// The bytes are kept under the upload now (or refused): the
		// session keeps only its record until it expires.
		os.RemoveAll(filepath.Dir(s.dataPath(se)))
	}()
}

// finish hashes the received file, compares it with the announced hash
// and keeps it as an upload when its rows pass the check. The bytes stay
// in the session until then, so that a restart checks them again.
func (s *Store) finish(se *session) (*api.DatasetUpload, error) {
	path := s.dataPath(se)
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if se.SHA256 != "" && sum != se.SHA256 {
		up := &api.DatasetUpload{Name: se.Name, Size: se.Size, SHA256: sum,
			Errors: []string{fmt.Sprintf("%s: the bytes received hash to %s, not the %s announced: send the file again", se.Name, sum, se.SHA256)}}
		return up, crucible.Errorf(crucible.EINVALID, "upload %s is corrupt", se.ID)
	}
	up := &api.DatasetUpload{ID: se.ID, Name: se.Name, Size: se.Size, SHA256: sum}
	return s.accept(context.Background(), se.Owner, filepath.Dir(path), path, up)
}

// view is what the customer sees of a session.
func (s *Store) view(se *session) *api.UploadSession {
	v := &api.UploadSession{ID: se.ID, Name: se.Name, Size: se.Size, State: se.State, Expires: se.Touched.Add(SessionTTL), Upload: se.Upload}
	if se.State == api.UploadReceiving {
		if st, err := os.Stat(s.dataPath(se)); err == nil {
			v.Received = st.Size()
		}
	} else {
		v.Received = se.Size
	}
	return v
}

func (s *Store) load(owner, id string) (*session, error) {
	if !idRE.MatchString(id) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %q", id)
	}
	b, err := os.ReadFile(filepath.Join(s.sessionDir(id), "session.json"))
	if os.IsNotExist(err) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	var se session
	if err := json.Unmarshal(b, &se); err != nil {
		return nil, fmt.Errorf("upload %s: %w", id, err)
	}
	if se.Owner != owner {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no upload %s", id)
	}
	return &se, nil
}

// save writes a session's record atomically.
func (s *Store) save(se *session) error {
	b, _ := json.MarshalIndent(se, "", "  ")
	dir := s.sessionDir(se.ID)
	tmp := filepath.Join(dir, ".session.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("upload %s: %w", se.ID, err)
	}
	return os.Rename(tmp, filepath.Join(dir, "session.json"))
}

// list reads every session's record.
func (s *Store) list() []*session {
	ents, _ := os.ReadDir(filepath.Join(s.dir, "sessions"))
	var out []*session
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.sessionDir(e.Name()), "session.json"))
		if err != nil {
			continue
		}
		var se session
		if json.Unmarshal(b, &se) == nil {
			out = append(out, &se)
		}
	}
	return out
}

// sweep removes the sessions untouched for SessionTTL (not while checked).
func (s *Store) sweep() {
	for _, se := range s.list() {
		if time.Since(se.Touched) > SessionTTL && se.State != api.UploadChecking {
			os.RemoveAll(s.sessionDir(se.ID))
		}
	}
}
