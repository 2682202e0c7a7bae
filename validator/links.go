package validator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// link returns a signed download link for a blob (or, for keys under
// "models/", a tar of a model directory) that works until expires.
func (v *Validator) link(key string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Add(v.cfg.LinkTTL).Unix(), 10)
	q := url.Values{"expires": {exp}, "signature": {v.linkSignature(key, exp)}}
	return v.cfg.PublicURL + api.PathBlob + escapeKey(key) + "?" + q.Encode()
}

func (v *Validator) linkSignature(key, exp string) string {
	m := hmac.New(sha256.New, v.LinkKey)
	m.Write([]byte(key + "\n" + exp))
	return hex.EncodeToString(m.Sum(nil))
}

// checkLink verifies a download link's signature and expiry.
func (v *Validator) checkLink(key, exp, sig string) error {
	if !hmac.Equal([]byte(sig), []byte(v.linkSignature(key, exp))) {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "bad link signature")
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || v.Now().Unix() > n {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "link expired")
	}
	if strings.HasSuffix(key, "/test.jsonl") {
		return crucible.Errorf(crucible.EFORBIDDEN, "test splits are never served")
	}
	return nil
}

func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
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
