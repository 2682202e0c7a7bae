package validator

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Upload stores the result of the miner with hotkey (the verified caller).
// It returns EUNAUTHORIZED for an unsigned upload, EFORBIDDEN when the
// caller has no part in the task or names another miner's result,
// ECONFLICT when the task is not training or the deadline has passed (a
// late upload), and ETOOLARGE when the upload is larger than allowed.
func (v *Validator) Upload(ctx context.Context, hotkey, taskID, name string, body io.Reader) (*api.UploadResponse, error) {
	if hotkey == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "upload is not signed")
	}
	if err := crucible.CheckID("upload: task id", taskID); err != nil {
		return nil, err
	}
	if err := crucible.CheckID("upload: result name", name); err != nil {
		return nil, err
	}
	t, err := v.Store.FindTask(ctx, taskID)
	if err != nil {
		return nil, err
	}
	s, err := v.Store.FindSubmission(ctx, taskID, hotkey)
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "%s is not training task %s", hotkey, taskID)
	} else if err != nil {
		return nil, err
	}
	if s.ExpectedName != name {
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "task %s expects your result under another name", taskID)
	}
	// A fast miner may finish before the task is marked as training: its
	// start was sent while the task was ready, with the deadline fixed.
	open := t.Status == crucible.StatusTraining || t.Status == crucible.StatusReady
	if !open || t.TerminationAt == nil || !v.Now().Before(*t.TerminationAt) {
		return nil, crucible.Errorf(crucible.ECONFLICT, "task %s no longer accepts results (status %s, deadline %s)", taskID, t.Status, fmtTime(t.TerminationAt)).
			WithHint("uploads must complete before the deadline")
	}
	key := "tasks/" + taskID + "/results/" + hotkey + ".tar"
	lr := &limitedReader{r: body, n: v.cfg.MaxUpload + 1}
	size, sum, err := v.Blobs.Put(ctx, key, lr)
	if lr.n <= 0 {
		return nil, crucible.Errorf(crucible.ETOOLARGE, "upload is larger than %d bytes", v.cfg.MaxUpload)
	}
	if err != nil {
		return nil, err
	}
	// The deadline is checked again after the body arrived: a slow upload that
	// finishes late is late.
	now := v.Now()
	if !now.Before(*t.TerminationAt) {
		return nil, crucible.Errorf(crucible.ECONFLICT, "upload finished after the deadline %s", fmtTime(t.TerminationAt))
	}
	s.ResultKey, s.ResultSHA256, s.UploadedAt = key, sum, &now
	if err := v.Store.UpdateSubmission(ctx, s); err != nil {
		return nil, err
	}
	v.event(ctx, taskID, crucible.EventProgress, hotkey, "result uploaded", map[string]any{"size": size, "sha256": sum})
	if v.Kick != nil {
		v.Kick(taskID)
	}
	return &api.UploadResponse{TaskID: taskID, ExpectedName: name, Size: size, SHA256: sum, ReceivedAt: now}, nil
}

// OpenLink opens what a download link names once its signature checks: a
// tar of a base model (keys under "models/"), or a stored blob. Returns
// EUNAUTHORIZED for a bad or expired link, EFORBIDDEN for a test split,
// ENOTFOUND.
func (v *Validator) OpenLink(ctx context.Context, key string, q url.Values) (io.ReadCloser, error) {
	if err := v.checkLink(key, q); err != nil {
		return nil, err
	}
	name, ok := modelName(key)
	if !ok {
		return v.Blobs.Get(ctx, key)
	}
	dir, err := v.Models.ResolveModel(ctx, name)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(api.WriteTar(pw, dir)) }()
	return pr, nil
}

// copyBlob writes a stored blob as the response.
func (v *Validator) copyBlob(w http.ResponseWriter, r *http.Request, key string) {
	rc, err := v.Blobs.Get(r.Context(), key)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	io.Copy(w, rc)
}

type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
