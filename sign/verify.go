package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
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

// DefaultMaxBody is the largest request body Verify reads by default: the
// JSON of the node protocol. Routes that take more (a result upload) say
// so in their Options.
const DefaultMaxBody = 1 << 20

// Options configure a Verifier.
type Options struct {
	// Hotkey is this node's SS58 address: a request signed for any other
	// node is refused. Required.
	Hotkey string
	// Authorize decides whether a correctly signed caller may call: return
	// nil to admit it, a *crucible.Error with EFORBIDDEN (or ENOTFOUND) to
	// refuse it with 403, EUNAUTHORIZED for 401; any other error is a 500
	// (e.g. the metagraph could not be read). Nil admits every caller. It
	// runs on the verified headers, before any byte of the body is read.
	Authorize func(ctx context.Context, hotkey string) error
	// Window is the allowed clock difference. Defaults to DefaultWindow.
	Window time.Duration
	// MaxBody is the largest body read, in bytes. Defaults to
	// DefaultMaxBody; larger requests get 413.
	MaxBody int64
	// Stream hands the handler the body as it arrives instead of reading
	// it first: the body's reader fails (EUNAUTHORIZED) at its end when
	// what came does not match the signed hash, so the handler must read
	// to the end before it keeps anything (a blob store's Put does).
	// Without Stream, the body (at most MaxBody) is read into memory and
	// checked before the handler runs.
	Stream bool
	// Replay remembers seen nonces. Defaults to a new in-memory cache per
	// Verifier; share one between Verifiers that guard the same node, and
	// open it on a file (OpenReplayCache) so that it survives a restart.
	Replay *ReplayCache
	// Log receives every refusal with the caller's address and why. Nil
	// discards them.
	Log *slog.Logger
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
	if opts.Replay == nil {
		opts.Replay = NewReplayCache(0)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{opts: opts}
}

// Verify returns middleware that lets through only requests signed for
// opts.Hotkey by a caller that Authorize admits, with the caller's address on
// the request context (Caller). Refusals are JSON {code, message}: 401 for a
// missing or bad signature, a stale or replayed nonce, a body that does not
// match its signed hash, or a request meant for another node; 403 when
// Authorize refuses; 413 for a body over MaxBody.
func Verify(next http.Handler, opts Options) http.Handler {
	return NewVerifier(opts).Middleware(next)
}

// Middleware wraps next as Verify describes. Everything but the body is
// checked from the headers first (the signature covers the body's hash,
// which the body-sha256 header carries), so a caller who is not admitted
// never gets a byte of its body read; the nonce is recorded only for an
// admitted caller.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := signedHeaders(r)
		var sum [32]byte
		if err == nil {
			sum, err = claimedSum(r)
		}
		var caller string
		if err == nil {
			caller, err = v.CheckHash(r, sum)
		}
		if err == nil && r.ContentLength > v.opts.MaxBody {
			err = tooLarge(v.opts.MaxBody)
		}
		if err != nil {
			v.refuse(w, r, err)
			return
		}
		body := &checkedBody{r: http.MaxBytesReader(w, r.Body, v.opts.MaxBody), h: sha256.New(), want: sum, max: v.opts.MaxBody}
		if !v.opts.Stream {
			b, err := io.ReadAll(body)
			if err != nil {
				v.refuse(w, r, err)
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		} else {
			r.Body = body
		}
		next.ServeHTTP(w, r.WithContext(WithCaller(r.Context(), caller)))
	})
}

// refuse answers a refused request and logs who was refused and why.
func (v *Verifier) refuse(w http.ResponseWriter, r *http.Request, err error) {
	v.opts.Log.Warn("signed request refused", "caller", trunc(r.Header.Get(HeaderValidatorHotkey), 64),
		"addr", r.RemoteAddr, "method", r.Method, "path", trunc(r.URL.Path, 200), "code", crucible.ErrorCode(err), "err", crucible.ErrorMessage(err))
	writeError(w, err)
}

// signedHeaders refuses a request that lacks one of the signature's
// headers.
func signedHeaders(r *http.Request) error {
	for _, h := range []string{HeaderValidatorHotkey, HeaderMinerHotkey, HeaderNonce, HeaderSignature} {
		if r.Header.Get(h) == "" {
			return crucible.Errorf(crucible.EUNAUTHORIZED, "request is not signed: headers %s, %s, %s and %s are required",
				HeaderValidatorHotkey, HeaderMinerHotkey, HeaderNonce, HeaderSignature)
		}
	}
	return nil
}

// claimedSum is the body hash a request's signature covers: its
// body-sha256 header, or the hash of an empty body for a request without
// one (which must then have no body).
func claimedSum(r *http.Request) ([32]byte, error) {
	var sum [32]byte
	h := r.Header.Get(HeaderBodySHA256)
	if h == "" {
		if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
			return sum, crucible.Errorf(crucible.EUNAUTHORIZED, "request has a body but no %s header: its signature cannot be checked before the body is read", HeaderBodySHA256)
		}
		return sha256.Sum256(nil), nil
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return sum, crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: want 64 hex digits", HeaderBodySHA256)
	}
	copy(sum[:], b)
	return sum, nil
}

// checkedBody reads a request body, hashing it, and fails at its end when
// the hash is not the signed one, or as soon as it passes max.
type checkedBody struct {
	r    io.ReadCloser
	h    hash.Hash
	want [32]byte
	max  int64
	err  error
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		b.err = tooLarge(b.max)
		return n, b.err
	case err == io.EOF:
		var got [32]byte
		copy(got[:], b.h.Sum(nil))
		if got != b.want {
			b.err = crucible.Errorf(crucible.EUNAUTHORIZED, "bad signature: the body does not match the signed %s", HeaderBodySHA256)
			return n, b.err
		}
	case err != nil:
		b.err = crucible.Wrap(err, crucible.EINVALID, "read request body")
		return n, b.err
	}
	return n, err
}

func (b *checkedBody) Close() error { return b.r.Close() }

// Check verifies the signed headers of r against body (its full body) and
// returns the caller's address. Errors are *crucible.Error values:
// EUNAUTHORIZED for signature, freshness, replay and audience failures,
// whatever Authorize returns otherwise. The nonce is consumed only when the
// signature verifies and the caller is admitted.
func (v *Verifier) Check(r *http.Request, body []byte) (string, error) {
	sum := sha256.Sum256(body)
	if h := r.Header.Get(HeaderBodySHA256); h != "" && h != hex.EncodeToString(sum[:]) {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "bad signature: the body does not match the signed %s", HeaderBodySHA256)
	}
	return v.CheckHash(r, sum)
}

// CheckHash is Check for a body known by its SHA-256. It reads only the
// headers.
func (v *Verifier) CheckHash(r *http.Request, bodySum [32]byte) (string, error) {
	caller := r.Header.Get(HeaderValidatorHotkey)
	target := r.Header.Get(HeaderMinerHotkey)
	nonce := r.Header.Get(HeaderNonce)
	sigHex := r.Header.Get(HeaderSignature)
	if err := signedHeaders(r); err != nil {
		return "", err
	}
	if v.opts.Hotkey == "" {
		return "", crucible.Errorf(crucible.EINTERNAL, "this node verifies signed requests but has no hotkey configured")
	}
	if target != v.opts.Hotkey {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "request is signed for %s, but this node is %s", trunc(target, 64), v.opts.Hotkey)
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
	if len(sigHex) > 2+2*128 {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s is too long", HeaderSignature)
	}
	sig, err := hex.DecodeString(strings.TrimPrefix(sigHex, "0x"))
	if err != nil {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: not hex", HeaderSignature)
	}
	if err := VerifySignature(caller, messageHex(nonce, target, hex.EncodeToString(bodySum[:])), sig); err != nil {
		if errors.Is(err, ErrBadSignature) {
			return "", crucible.Errorf(crucible.EUNAUTHORIZED, "bad signature from %s", trunc(caller, 64))
		}
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "header %s: %v", HeaderValidatorHotkey, err)
	}
	key := caller + " " + nonce
	if v.opts.Replay.seen(key, now) {
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "nonce %s was already used", nonce)
	}
	if v.opts.Authorize != nil {
		if err := v.opts.Authorize(r.Context(), caller); err != nil {
			return "", err
		}
	}
	switch res, err := v.opts.Replay.add(key, ts.Add(v.opts.Window), now); {
	case err != nil:
		return "", crucible.Wrap(err, crucible.EINTERNAL, "record nonce")
	case res == replaySeen:
		return "", crucible.Errorf(crucible.EUNAUTHORIZED, "nonce %s was already used", nonce)
	case res == replayFull:
		return "", crucible.Errorf(crucible.ERATELIMITED, "too many signed requests in flight: the replay cache is full").
			WithHint("retry in a minute")
	}
	return caller, nil
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// tooLarge refuses a body over the limit (HTTP 413).
func tooLarge(max int64) error {
	return crucible.Errorf(crucible.ETOOLARGE, "request body is larger than %d bytes", max)
}

// nonceTime parses the timestamp of a "{unix_ns}_{random}" nonce, whose
// random part is 1 to 64 letters, digits or dashes.
func nonceTime(nonce string) (time.Time, error) {
	if len(nonce) > 128 {
		return time.Time{}, fmt.Errorf("nonce is %d bytes long", len(nonce))
	}
	tsPart, rest, ok := strings.Cut(nonce, "_")
	if !ok || rest == "" || len(rest) > 64 || strings.IndexFunc(rest, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-')
	}) >= 0 {
		return time.Time{}, fmt.Errorf("nonce %q: want {unix_ns}_{random letters and digits}", trunc(nonce, 128))
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
