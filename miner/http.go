package miner

import (
	"net/http"

	"github.com/crucible-net/crucible/api"
)

// Handler serves the miner's endpoints. The caller wraps it with the
// signature-verifying middleware, and caller returns the verified hotkey of
// a request's signer: Handler itself trusts every request.
func (m *Miner) Handler(caller func(*http.Request) string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+api.PathTaskOffer, func(w http.ResponseWriter, r *http.Request) {
		var o api.TaskOffer
		if err := decode(r, &o); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, m.Offer(o))
	})
	mux.HandleFunc("POST "+api.PathStartTraining, func(w http.ResponseWriter, r *http.Request) {
		var req api.TrainRequest
		if err := decode(r, &req); err != nil {
			writeError(w, err)
			return
		}
		if err := m.Start(req, caller(r)); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, api.TrainResponse{TaskID: req.TaskID, Message: "queued"})
	})
	mux.HandleFunc("GET "+api.PathTaskStatus+"{id}", func(w http.ResponseWriter, r *http.Request) {
		st, err := m.Status(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	return mux
}

func decode(r *http.Request, v any) error { return api.DecodeJSON(r.Body, 1<<20, v) }

func writeJSON(w http.ResponseWriter, status int, v any) { api.WriteJSON(w, status, v) }

func writeError(w http.ResponseWriter, err error) { api.WriteError(w, err) }
