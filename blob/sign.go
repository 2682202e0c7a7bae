package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Signer makes and checks download links: an HMAC-SHA256 over the key and
// the expiry time, under a secret only the node knows (kept in its state
// directory, so links survive a restart). It is the one link signer in
// crucible; Handler serves its links over any Store.
type Signer struct {
	secret []byte
	now    func() time.Time
}

// NewSigner returns a Signer with secret, which must be at least 16 bytes.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, crucible.Errorf(crucible.EINVALID, "blob signing secret must be at least 16 bytes, got %d", len(secret)).
			WithHint("generate one with `head -c 32 /dev/urandom | base64`")
	}
	return &Signer{secret: append([]byte(nil), secret...), now: time.Now}, nil
}

// Sign returns the hex signature of key valid until expires (Unix seconds).
func (s *Signer) Sign(key string, expires int64) string {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(strconv.FormatInt(expires, 10)))
	m.Write([]byte{0})
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature made by Sign and that it has not expired.
// Returns EUNAUTHORIZED saying which.
func (s *Signer) Verify(key string, expires int64, sig string) error {
	want := s.Sign(key, expires)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "bad signature for %q", key)
	}
	if s.now().Unix() > expires {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "link for %q expired at %s", key, time.Unix(expires, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// URL returns base + the escaped key + ?expires=...&sig=..., valid for ttl.
func (s *Signer) URL(base, key string, ttl time.Duration) string {
	return s.URLUntil(base, key, s.now().Add(ttl))
}

// URLUntil returns base + the escaped key + ?expires=...&sig=..., valid
// until expires (to the second).
func (s *Signer) URLUntil(base, key string, expires time.Time) string {
	exp := expires.Unix()
	q := url.Values{"expires": {strconv.FormatInt(exp, 10)}, "sig": {s.Sign(key, exp)}}
	return strings.TrimSuffix(base, "/") + "/" + escapeKey(key) + "?" + q.Encode()
}

// escapeKey escapes each segment of key for a URL path.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// VerifyRequest checks the expires and sig query parameters of a download
// request for key. Returns EUNAUTHORIZED.
func (s *Signer) VerifyRequest(r *http.Request, key string) error {
	return s.VerifyQuery(key, r.URL.Query())
}

// VerifyQuery checks a download link's expires and sig parameters for key.
// Returns EUNAUTHORIZED.
func (s *Signer) VerifyQuery(key string, q url.Values) error {
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	if err != nil {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "download link for %q has no valid expires parameter", key)
	}
	return s.Verify(key, exp, q.Get("sig"))
}
