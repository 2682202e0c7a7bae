package sign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// DefaultWindow is how far a nonce's timestamp may be from the receiver's
// clock, in either direction (fiber's NONCE_WINDOW_NS).
const DefaultWindow = 120 * time.Second

// DefaultMaxBody is the largest request body Verify reads by default.
const DefaultMaxBody = 64 << 20

// DefaultMemoryBody is the largest body Verify keeps in memory by default.
const DefaultMemoryBody = 4 << 20

// Options configure a Verifier.
type Options struct {
	// Hotkey is this node's SS58 address: a request signed for any other
	// node is refused. Required.
	Hotkey string
	// Authorize decides whether a correctly signed caller may call: return
	// nil to admit it, a *crucible.Error with EFORBIDDEN (or ENOTFOUND) to
	// refuse it with 403, EUNAUTHORIZED for 401; any other error is a 500
	// (e.g. the metagraph could not be read). Nil admits every caller.
	Authorize func(ctx context.Context, hotkey string) error
	// Window is the allowed clock difference. Defaults to DefaultWindow.
	Window time.Duration
	// MaxBody is the largest body read, in bytes. Defaults to
	// DefaultMaxBody; larger requests get 413.
	MaxBody int64
	// MemoryBody is the largest body held in memory; larger bodies are
	// spooled to a temporary file. Defaults to DefaultMemoryBody.
	MemoryBody int64
	// Replay remembers seen nonces. Defaults to a new cache per Verifier;
	// share one between Verifiers that guard the same node.
	Replay *ReplayCache
	// Now is the clock. Defaults to time.Now.
	Now func() time.Time
}

// Verifier checks signed requests. It is safe for concurrent use.
type Verifier struct {
	opts Options
}

// NewVerifier returns a Verifier for opts, filling in the defaults.
func NewVerifier(opts Options) *Verifier {
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MemoryBody <= 0 {
		opts.MemoryBody = DefaultMemoryBody
	}
	if opts.Replay == nil {
		opts.Replay = NewReplayCache(0)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{opts: opts}
}

// Verify returns middleware that lets through only requests signed for
// opts.Hotkey by a caller that Authorize admits, with the caller's address on
// the request context (Caller). Refusals are JSON {code, message}: 401 for a
// missing or bad signature, a stale or replayed nonce, or a request meant for
// another node; 403 when Authorize refuses; 413 for a body over MaxBody.
func Verify(next http.Handler, opts Options) http.Handler {
	return NewVerifier(opts).Middleware(next)
}

// Middleware wraps next as Verify describes. Bodies up to MemoryBody are
// held in memory; larger ones (up to MaxBody) are spooled to a temporary
// file that is removed when next returns.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, sum, err := spoolBody(r, v.opts.MaxBody, v.opts.MemoryBody)
		if err != nil {
			writeError(w, err)
			return
		}
		defer body.Close()
		caller, err := v.CheckHash(r, sum)
		if err != nil {
			writeError(w, err)
			return
		}
		r = r.WithContext(WithCaller(r.Context(), caller))
		r.Body = body
		r.ContentLength = body.size
		next.ServeHTTP(w, r)
	})
}

// Check verifies the signed headers of r against body (its full body) and
// returns the caller's address. Errors are *crucible.Error values:
// EUNAUTHORIZED for signature, freshness, replay and audience failures,
// whatever Authorize returns otherwise. The nonce is consumed only when the
// signature verifies.
func (v *Verifier) Check(r *http.Request, body []byte) (string, error) {
	return v.CheckHash(r, sha256.Sum256(body))
}

// CheckHash is Check for a body known by its SHA-256.
func (v *Verifier) CheckHash(r *http.Request, bodySum [32]byte) (string, error) {
	caller := r.Header.Get(HeaderValidatorHotkey)
	target := r.Header.Get(HeaderMinerHotkey)
	nonce := r.Header.Get(HeaderNonce)
	sigHex := r.Header.Get(HeaderSignature)
	if caller == "" || target == "" || nonce == "" || sigHex == "" {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "request is not signed: headers %s, %s, %s and %s are required",
			HeaderValidatorHotkey, HeaderMinerHotkey, HeaderNonce, HeaderSignature)
	}
	if v.opts.Hotkey == "" {
		return "", crucible.Errorf(crucible.EINTERNAL, "this node verifies signed requests but has no hotkey configured")
	}
	if target != v.opts.Hotkey {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "request is signed for %s, but this node is %s", target, v.opts.Hotkey)
	}
	now := v.opts.Now()
	ts, err := nonceTime(nonce)
	if err != nil {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: %v", HeaderNonce, err)
	}
	if d := now.Sub(ts); d > v.opts.Window || d < -v.opts.Window {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "nonce is stale: its time is %s away from ours, more than the %s allowed", d.Round(time.Millisecond), v.opts.Window).
			WithHint("check that both machines' clocks are synchronized")
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: not hex", HeaderSignature)
	}
	if err := VerifySignature(caller, messageHex(nonce, target, hex.EncodeToString(bodySum[:])), sig); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return "", crucible.Errorf(crucible.EUNAUTHORIZED, "bad signature from %s", caller)
		}
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: %v", HeaderValidatorHotkey, err)
	}
	switch v.opts.Replay.add(caller+"|"+nonce, ts.Add(v.opts.Window), now) {
	case replaySeen:
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "nonce %s was already used", nonce)
	case replayFull:
		return "", crucible.Errorf(crucible.EINTERNAL, "too many requests in flight: replay cache is full")
	}
	if v.opts.Authorize != nil {
		if err := v.opts.Authorize(r.Context(), caller); err != nil {
			return "", err
		}
	}
	return caller, nil
}

// nonceTime parses the timestamp of a "{unix_ns}_{random}" nonce.
func nonceTime(nonce string) (time.Time, error) {
	if len(nonce) > 128 {
		return time.Time{}, fmt.Errorf("nonce is %d bytes long", len(nonce))
	}
	tsPart, rest, ok := strings.Cut(nonce, "_")
	if !ok || rest == "" {
		return time.Time{}, fmt.Errorf("nonce %q: want {unix_ns}_{random}", nonce)
	}
	ns, err := strconv.ParseInt(tsPart, 10, 64)
	if err != nil || ns <= 0 {
		return time.Time{}, fmt.Errorf("nonce %q: timestamp is not a positive integer", nonce)
	}
	return time.Unix(0, ns), nil
}

type callerKey struct{}

// WithCaller returns ctx carrying a verified caller address.
func WithCaller(ctx context.Context, hotkey string) context.Context {
	return context.WithValue(ctx, callerKey{}, hotkey)
}

// Caller returns the verified caller's SS58 address that Verify put on the
// request context.
func Caller(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(callerKey{}).(string)
	return s, ok && s != ""
}

// ErrorBody is the JSON of a refused request: the body of every crucible
// error answer.
type ErrorBody = api.ErrorResponse

// writeError answers a refused request. An Authorize function that reports
// an unknown caller as ENOTFOUND refuses it (403) rather than claiming a
// missing resource.
func writeError(w http.ResponseWriter, err error) {
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		err = &crucible.Error{Code: crucible.EFORBIDDEN, Message: crucible.ErrorMessage(err), Hint: crucible.ErrorHint(err)}
	}
	api.WriteError(w, err)
}

// MinStake returns an Authorize function that admits hotkeys that lookup
// finds with at least min stake (in TAO). lookup returns a *crucible.Error
// with ENOTFOUND for an unregistered hotkey; other errors pass through.
func MinStake(lookup func(ctx context.Context, hotkey string) (*crucible.Node, error), min float64) func(context.Context, string) error {
	return func(ctx context.Context, hotkey string) error {
		n, err := lookup(ctx, hotkey)
		if err != nil {
			if crucible.ErrorCode(err) == crucible.ENOTFOUND {
				return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s is not registered", hotkey)
			}
			return err
		}
		if n.Stake < min {
			return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s has stake %g, below the minimum %g", hotkey, n.Stake, min)
		}
		return nil
	}
}
