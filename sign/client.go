package sign

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/crucible-net/crucible/api"
)

// The headers of a signed request, as fiber names them. fiber only signs
// validator-to-miner requests; crucible signs requests in both directions
// with the same headers, so "validator-hotkey" always carries the sender and
// "miner-hotkey" the receiver, whatever their roles.
const (
	HeaderValidatorHotkey = "validator-hotkey" // the signer's SS58 address
	HeaderMinerHotkey     = "miner-hotkey"     // the SS58 address the request is meant for
	HeaderNonce           = "nonce"            // "{unix_ns}_{10 random alphanumerics}"
	HeaderSignature       = "signature"        // "0x" + hex of the 64-byte sr25519 signature
	// HeaderBodySHA256 carries the hex SHA-256 of the body the signature
	// covers, so that a receiver checks the signature (and who signed)
	// before it reads a byte of the body; absent, the body must be empty.
	HeaderBodySHA256 = api.HeaderBodySHA256
)

var emptySum = sha256.Sum256(nil)

const nonceAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// NewNonce returns a fresh nonce for time now: the Unix time in nanoseconds,
// an underscore and 10 random alphanumerics.
func NewNonce(now time.Time) string {
	var r [10]byte
	if _, err := rand.Read(r[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS entropy source failing is unrecoverable
	}
	for i := range r {
		r[i] = nonceAlphabet[int(r[i])%len(nonceAlphabet)]
	}
	return strconv.FormatInt(now.UnixNano(), 10) + "_" + string(r[:])
}

// Message is the text a request's signature covers:
// "{nonce}:{miner_hotkey}:{sha256hex(body)}". A GET has an empty body.
func Message(nonce, target string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return messageHex(nonce, target, hex.EncodeToString(sum[:]))
}

func messageHex(nonce, target, bodyHex string) []byte {
	return []byte(nonce + ":" + target + ":" + bodyHex)
}

// SignRequest signs req for target (the receiving node's SS58 address) with
// signer at time now and sets the four headers. It reads the body to hash it
// and puts back an equal one (and GetBody, so redirects and retries resend
// it).
func SignRequest(req *http.Request, signer Signer, target string, now time.Time) error {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return fmt.Errorf("sign request: read body: %w", err)
		}
		body = b
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.ContentLength = int64(len(body))
	if len(body) == 0 {
		req.Body = http.NoBody
	}
	return SignRequestHash(req, signer, target, sha256.Sum256(body), now)
}

// SignRequestHash signs req for target given the SHA-256 of its body, which
// it does not read: use it to sign a large body streamed from a file (set
// req.GetBody so that it can be resent). A Transport passes requests that
// are already signed through unchanged.
func SignRequestHash(req *http.Request, signer Signer, target string, bodySum [32]byte, now time.Time) error {
	nonce := NewNonce(now)
	sig, err := signer.Sign(messageHex(nonce, target, hex.EncodeToString(bodySum[:])))
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	req.Header.Set(HeaderValidatorHotkey, signer.Address())
	req.Header.Set(HeaderMinerHotkey, target)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set(HeaderSignature, "0x"+hex.EncodeToString(sig))
	if bodySum != emptySum {
		req.Header.Set(HeaderBodySHA256, hex.EncodeToString(bodySum[:]))
	} else {
		req.Header.Del(HeaderBodySHA256)
	}
	return nil
}

type targetKey struct{}

// WithTarget returns a context that makes a Transport sign the request for
// target (an SS58 address) instead of its default target. One client can so
// talk to many nodes.
func WithTarget(ctx context.Context, target string) context.Context {
	return context.WithValue(ctx, targetKey{}, target)
}

// Transport is an http.RoundTripper that signs every request it sends.
type Transport struct {
	// Signer signs the requests. Required.
	Signer Signer
	// Target is the receiver's SS58 address, unless the request's context
	// names another (WithTarget).
	Target string
	// Base sends the signed request. Defaults to http.DefaultTransport.
	Base http.RoundTripper
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// RoundTrip signs a copy of req and sends it. A request that already
// carries a signature (SignRequestHash) is sent as it is; one that carries
// its body's hash in a body-sha256 header (a large file, say) is signed
// from it, without its body being read.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Header.Get(HeaderSignature) != "" {
		return base.RoundTrip(req)
	}
	target := t.Target
	if v, ok := req.Context().Value(targetKey{}).(string); ok && v != "" {
		target = v
	}
	if t.Signer == nil {
		return nil, fmt.Errorf("sign transport: no signer")
	}
	if target == "" {
		return nil, fmt.Errorf("sign transport: no target hotkey for %s %s (set Transport.Target or use WithTarget)", req.Method, req.URL)
	}
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	r := req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
	if h := req.Header.Get(HeaderBodySHA256); h != "" {
		var sum [32]byte
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			return nil, fmt.Errorf("sign transport: header %s is not a SHA-256", HeaderBodySHA256)
		} else {
			copy(sum[:], b)
		}
		if err := SignRequestHash(r, t.Signer, target, sum, now()); err != nil {
			return nil, err
		}
		return base.RoundTrip(r)
	}
	if err := SignRequest(r, t.Signer, target, now()); err != nil {
		return nil, err
	}
	return base.RoundTrip(r)
}

// NewClient returns an http.Client whose requests are signed by signer for
// target (which may be "" when every request names its target with
// WithTarget).
func NewClient(signer Signer, target string) *http.Client {
	return &http.Client{Transport: &Transport{Signer: signer, Target: target}}
}
