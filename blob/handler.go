package blob

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Handler serves GET and HEAD for signed download links (Signer.URL) to
// objects of st: the request path is prefix followed by the key. Seekable
// objects (Local's files) are served with Range support. The response's
// ETag is the object's SHA-256.
func Handler(st Store, signer *Signer, prefix string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			api.WriteJSON(w, http.StatusMethodNotAllowed, api.ErrorResponse{Code: crucible.EINVALID, Message: r.Method + " is not allowed here; use GET or HEAD"})
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			api.WriteError(w, crucible.Errorf(crucible.ENOTFOUND, "no object at %s", r.URL.Path))
			return
		}
		if err := ValidateKey(key); err != nil {
			api.WriteError(w, err)
			return
		}
		if err := signer.VerifyRequest(r, key); err != nil {
			api.WriteError(w, err)
			return
		}
		info, err := st.Stat(r.Context(), key)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		rc, err := st.Get(r.Context(), key)
		if err != nil {
			api.WriteError(w, err)
			return
		}
		defer rc.Close()
		w.Header().Set("ETag", `"`+info.SHA256+`"`)
		w.Header().Set("Content-Type", "application/octet-stream")
		if rs, ok := rc.(io.ReadSeeker); ok {
			http.ServeContent(w, r, "", info.ModTime, rs)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = io.Copy(w, rc)
	})
}
