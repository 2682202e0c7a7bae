package validator

import (
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// Links signs and checks the download links the validator hands miners.
// blob.Signer implements it; it is the one link signer in crucible.
type Links interface {
	// URLUntil returns base + the escaped key with a signature valid until
	// expires.
	URLUntil(base, key string, expires time.Time) string
	// VerifyQuery checks a download link's signature and expiry (its query)
	// for key. Returns EUNAUTHORIZED.
	VerifyQuery(key string, q url.Values) error
}

// link returns a signed download link for a blob (or, for keys under
// "models/", a tar of a model directory) that works until LinkTTL after
// expires (the training deadline).
func (v *Validator) link(key string, expires time.Time) string {
	return v.Links.URLUntil(v.cfg.PublicURL+api.PathBlob, key, expires.Add(v.cfg.LinkTTL))
}

// tokensLink links a token file, or is empty when there is none.
func (v *Validator) tokensLink(key string, expires time.Time) string {
	if key == "" {
		return ""
	}
	return v.link(key, expires)
}

// checkLink verifies a download link, and refuses test splits whatever the
// link says.
func (v *Validator) checkLink(key string, q url.Values) error {
	if err := v.Links.VerifyQuery(key, q); err != nil {
		return err
	}
	if strings.HasSuffix(key, "/test.jsonl") || strings.HasSuffix(key, "/"+testTokensName) {
		return crucible.Errorf(crucible.EFORBIDDEN, "test splits are never served")
	}
	return nil
}

// modelKey is the link key under which a base model (by name, which may be
// a path) is served as a tar of its directory.
func modelKey(name string) string {
	return "models/" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// modelName reverses modelKey.
func modelName(key string) (string, bool) {
	enc, ok := strings.CutPrefix(key, "models/")
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}
