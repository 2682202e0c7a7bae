package node

import (
	"context"
	"errors"
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

// Serve runs an HTTP server on l until ctx ends, then shuts it down,
// giving requests in flight 5 seconds.
func Serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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
