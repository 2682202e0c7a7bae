package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// BeginUpload starts a resumable dataset upload (POST PathUploads): the
// file's name (its extension says how to read it), its size, and
// optionally its SHA-256, which the validator then checks.
type BeginUpload struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
}

// States of an UploadSession.
const (
	UploadReceiving = "receiving" // waiting for bytes from Received on
	UploadChecking  = "checking"  // all bytes are in; the rows are being checked
	UploadDone      = "done"      // checked and kept: Upload is the receipt
	UploadRefused   = "refused"   // the dataset has problems: Upload.Errors lists them
)

// UploadSession is a resumable upload: send the file's bytes from Received
// on (PUT PathUploads/{id}?offset=Received, any number of chunks) until
// Received equals Size; the validator then checks the rows, and GET
// PathUploads/{id} reports the outcome. Sessions left untouched for a day
// are removed.
type UploadSession struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Received int64     `json:"received"`
	State    string    `json:"state"`
	Expires  time.Time `json:"expires"`
	// Upload is the receipt once the state is done or refused (pass
	// "upload:ID" as a task's dataset when done).
	Upload *DatasetUpload `json:"upload,omitempty"`
}

// BeginUpload starts a resumable upload.
func (c *Client) BeginUpload(ctx context.Context, req BeginUpload) (*UploadSession, error) {
	var s UploadSession
	return &s, c.call(ctx, "POST", PathUploads, req, &s)
}

// UploadStatus reports a resumable upload.
func (c *Client) UploadStatus(ctx context.Context, id string) (*UploadSession, error) {
	var s UploadSession
	return &s, c.call(ctx, "GET", PathUploads+"/"+url.PathEscape(id), nil, &s)
}

// AbortUpload removes a resumable upload and what it received.
func (c *Client) AbortUpload(ctx context.Context, id string) error {
	return c.call(ctx, "DELETE", PathUploads+"/"+url.PathEscape(id), nil, nil)
}

// UploadChunk sends bytes of the file from offset, which must be the
// session's Received. Returns ECONFLICT when it is not (ask UploadStatus
// where to go on from).
func (c *Client) UploadChunk(ctx context.Context, id string, offset int64, chunk io.Reader) (*UploadSession, error) {
	resp, err := c.request(ctx, "PUT", PathUploads+"/"+url.PathEscape(id)+"?offset="+strconv.FormatInt(offset, 10), chunk, "application/octet-stream")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s UploadSession
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&s); err != nil {
		return nil, fmt.Errorf("upload chunk: decode answer: %w", err)
	}
	return &s, nil
}

// ResumableOptions controls UploadResumable.
type ResumableOptions struct {
	// Session, when set, is an earlier session of the same file to go on
	// with (it must be receiving or further).
	Session string
	// ChunkSize is the bytes sent per request. Defaults to 64 MiB.
	ChunkSize int64
	// Tries is how many times a failed chunk is sent again before giving
	// up. Defaults to 5.
	Tries int
	// Started, when set, is told the session's id as soon as there is one
	// (to keep it for a later run).
	Started func(id string)
	// Progress, when set, is told where the session stands after each
	// chunk and each look at the row check.
	Progress func(s *UploadSession)
	// Poll is how often the outcome of the row check is asked. Defaults
	// to 1 s.
	Poll time.Duration
}

// UploadResumable uploads a file of size bytes in chunks, resuming where
// the validator's session stands after a broken request (or, with
// opt.Session, after an earlier run), then waits for the row check. A
// dataset with problems is refused with EINVALID, its message listing
// them; the receipt comes back with it.
func (c *Client) UploadResumable(ctx context.Context, name string, f io.ReaderAt, size int64, opt ResumableOptions) (*DatasetUpload, error) {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 64 << 20
	}
	if opt.Tries <= 0 {
		opt.Tries = 5
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	var s *UploadSession
	var err error
	if opt.Session != "" {
		if s, err = c.UploadStatus(ctx, opt.Session); err != nil || s.Size != size || s.Name == "" {
			s = nil // gone, or another file: start afresh
		}
	}
	if s == nil {
		sum, err := fileSHA256(f, size)
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", name, err)
		}
		if s, err = c.BeginUpload(ctx, BeginUpload{Name: name, Size: size, SHA256: sum}); err != nil {
			return nil, err
		}
	}
	if opt.Started != nil {
		opt.Started(s.ID)
	}
	failures := 0
	for s.State == UploadReceiving && s.Received < size {
		n := min(opt.ChunkSize, size-s.Received)
		next, err := c.UploadChunk(ctx, s.ID, s.Received, io.NewSectionReader(f, s.Received, n))
		if err == nil {
			s, failures = next, 0
			if opt.Progress != nil {
				opt.Progress(s)
			}
			continue
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		code := crucible.ErrorCode(err)
		if code == crucible.EINVALID || code == crucible.ENOTFOUND || code == crucible.EUNAUTHORIZED || code == crucible.EFORBIDDEN || code == crucible.ETOOLARGE {
			return nil, err
		}
		if failures++; failures >= opt.Tries {
			return nil, fmt.Errorf("upload %s: %d failures in a row at byte %d: %w", name, failures, s.Received, err)
		}
		select {
		case <-time.After(time.Duration(failures) * opt.Poll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// Where does the session stand? (A chunk may have arrived whole
		// even though its answer did not.)
		if st, serr := c.UploadStatus(ctx, s.ID); serr == nil {
			s = st
		}
	}
	for s.State == UploadChecking || s.State == UploadReceiving {
		select {
		case <-time.After(opt.Poll):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if s, err = c.UploadStatus(ctx, s.ID); err != nil {
			return nil, err
		}
		if opt.Progress != nil {
			opt.Progress(s)
		}
	}
	if s.State == UploadRefused {
		msg := "the dataset was refused"
		if s.Upload != nil && len(s.Upload.Errors) > 0 {
			msg = fmt.Sprintf("dataset %s has %d problem(s):", name, len(s.Upload.Errors))
			for _, e := range s.Upload.Errors {
				msg += "\n" + e
			}
		}
		return s.Upload, crucible.Errorf(crucible.EINVALID, "%s", msg)
	}
	if s.Upload == nil {
		return nil, crucible.Errorf(crucible.EINTERNAL, "upload %s ended %s without a receipt", name, s.State)
	}
	return s.Upload, nil
}

// fileSHA256 hashes size bytes of f.
func fileSHA256(f io.ReaderAt, size int64) (string, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
