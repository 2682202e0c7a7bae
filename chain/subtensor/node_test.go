package subtensor

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crucible-net/crucible/chain/subtensor/subtensortest"
)

func newReplayNode(t *testing.T) *subtensortest.Node { return subtensortest.New(t) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
