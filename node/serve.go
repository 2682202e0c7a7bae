package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Listen opens a TCP listener on addr ("127.0.0.1:0" picks a free port);
// role and flag name the node and its setting in the error.
func Listen(addr, role, flag string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "%s cannot listen on %s: %v", role, addr, err).
			WithHint("pick another address with --" + flag)
	}
	return l, nil
}

// Timeouts of every node's HTTP server: a connection that is slow to send
// its headers, stalls its body or stops reading the answer is dropped, so
// that slow connections cannot pile up.
const (
	// HeaderTimeout is how long a request's headers may take.
	HeaderTimeout = 10 * time.Second
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request.
	IdleTimeout = 2 * time.Minute
	// BodyStall is how long a body may go without bringing another
	// BodyProgress bytes (a body must arrive at about 2 KiB/s or faster;
	// a small body must arrive whole within it).
	BodyStall = 30 * time.Second
	// BodyProgress is the progress that moves a body's deadline on.
	BodyProgress = 64 << 10
	// WriteStall is how long one write of an answer may block on a client
	// that does not read.
	WriteStall = time.Minute
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
)

// bodyStall and writeStall are BodyStall and WriteStall; tests shorten
// them.
var bodyStall, writeStall = BodyStall, WriteStall

// Serve runs an HTTP server on l until ctx ends, then shuts it down,
// giving requests in flight 5 seconds. Every request is held to the
// timeouts above (Guard).
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: Guard(h), ReadHeaderTimeout: HeaderTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	}
}

// NewLogger logs warnings and errors to stderr, or everything with verbose.
func NewLogger(verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Guard holds each request to the body and write timeouts: its body's read
// deadline starts BodyStall ahead and moves on by BodyStall each time
// another BodyProgress bytes arrive, and each write of the answer must
// finish within WriteStall. A large upload that keeps coming is never cut
// off; a slow-loris body or a client that stops reading is.
func Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		defer rc.SetWriteDeadline(time.Time{}) // the next request on this connection starts afresh
		if r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(bodyStall))
			r.Body = &stallReader{ReadCloser: r.Body, rc: rc}
		}
		h.ServeHTTP(&stallWriter{ResponseWriter: w, rc: rc}, r)
	})
}

// stallReader moves the read deadline on as the body makes progress.
type stallReader struct {
	io.ReadCloser
	rc    *http.ResponseController
	since int
}

func (s *stallReader) Read(p []byte) (int, error) {
	n, err := s.ReadCloser.Read(p)
	switch s.since += n; {
	case err != nil:
		// Done with the body (or it failed): the connection's reads from
		// here on only watch for the client going away, which must not
		// time out while the handler works.
		s.rc.SetReadDeadline(time.Time{})
	case s.since >= BodyProgress:
		s.since = 0
		s.rc.SetReadDeadline(time.Now().Add(bodyStall))
	}
	return n, err
}

// stallWriter gives each write of the answer WriteStall to finish.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.rc.SetWriteDeadline(time.Now().Add(writeStall))
	return s.ResponseWriter.Write(p)
}

// Flush sends what is buffered (event streams flush each event).
func (s *stallWriter) Flush() {
	s.rc.SetWriteDeadline(time.Now().Add(writeStall))
	s.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
