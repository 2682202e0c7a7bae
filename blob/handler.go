package blob

import (
	"io"
	"net/http"
	"strconv"
	"strings"

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
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		key, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			http.NotFound(w, r)
			return
		}
		if err := ValidateKey(key); err != nil {
			httpError(w, err)
			return
		}
		if err := signer.VerifyRequest(r, key); err != nil {
			httpError(w, err)
			return
		}
		info, err := st.Stat(r.Context(), key)
		if err != nil {
			httpError(w, err)
			return
		}
		rc, err := st.Get(r.Context(), key)
		if err != nil {
			httpError(w, err)
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

// httpError writes err with the status its code calls for.
func httpError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch crucible.ErrorCode(err) {
	case crucible.EINVALID:
		status = http.StatusBadRequest
	case crucible.EUNAUTHORIZED, crucible.EFORBIDDEN:
		status = http.StatusForbidden
	case crucible.ENOTFOUND:
		status = http.StatusNotFound
	}
	http.Error(w, crucible.ErrorMessage(err), status)
}
