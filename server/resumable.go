package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// beginUpload starts a resumable upload for the caller's account.
func (s *Server) beginUpload(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req api.BeginUpload
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	sess, err := s.b.BeginUpload(r.Context(), c.account.ID, req, s.opt.MaxResumable)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, sess)
	return nil
}

// appendUpload writes a chunk (the body, at most MaxUpload bytes) at
// ?offset=, which must be what the session has.
func (s *Server) appendUpload(w http.ResponseWriter, r *http.Request, c *caller) error {
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		return crucible.Errorf(crucible.EINVALID, "?offset=%q: want the number of bytes the upload has", r.URL.Query().Get("offset")).
			WithHint("GET /v1/uploads/ID says how many bytes it has (received)")
	}
	var mbe *http.MaxBytesError
	var sess *api.UploadSession
	if r.ContentLength > s.opt.MaxUpload {
		// Announced too large: refused before a byte is read.
		err = &http.MaxBytesError{Limit: s.opt.MaxUpload}
	} else {
		sess, err = s.b.AppendUpload(r.Context(), c.account.ID, r.PathValue("id"), offset, http.MaxBytesReader(w, r.Body, s.opt.MaxUpload))
	}
	if errors.As(err, &mbe) {
		return crucible.Errorf(crucible.ETOOLARGE, "a chunk may hold at most %d MiB", s.opt.MaxUpload>>20).
			WithHint("send the file in smaller chunks")
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, sess)
	return nil
}

// uploadSession reports a resumable upload.
func (s *Server) uploadSession(w http.ResponseWriter, r *http.Request, c *caller) error {
	sess, err := s.b.UploadSession(r.Context(), c.account.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, sess)
	return nil
}

// abortUpload removes a resumable upload.
func (s *Server) abortUpload(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.b.AbortUpload(r.Context(), c.account.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
