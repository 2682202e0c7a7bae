package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// A watch resumes a dropped stream after the last event it saw, ends with
// the end event's status, and stops at once (one connection, no retry)
// when its own callback fails.
func TestWatchStream(t *testing.T) {
	var mu sync.Mutex
	var afters []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		afters = append(afters, r.URL.Query().Get("after"))
		n := len(afters)
		mu.Unlock()
		after, _ := strconv.Atoi(r.URL.Query().Get("after"))
		w.Header().Set("Content-Type", "text/event-stream")
		for id := after + 1; id <= after+2; id++ {
			fmt.Fprintf(w, "event: event\ndata: {\"id\":%d,\"message\":\"step %d\"}\n\n", id, id)
		}
		if n == 2 { // the second connection ends the stream; the first drops
			fmt.Fprint(w, "event: end\ndata: {\"status\":\"success\"}\n\n")
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := NewClient(srv.URL, "")

	var seen []int64
	status, err := c.Watch(ctx, "t1", 0, func(e *crucible.TaskEvent) error { seen = append(seen, e.ID); return nil })
	if err != nil || status != crucible.StatusSuccess || fmt.Sprint(seen) != "[1 2 3 4]" || fmt.Sprint(afters) != "[0 2]" {
		t.Fatalf("status %q err %v events %v afters %v", status, err, seen, afters)
	}

	afters = nil
	stop := errors.New("enough")
	tstatus, err := c.WatchTournament(ctx, "x1", 0, func(e *crucible.TournamentEvent) error { return stop })
	if !errors.Is(err, stop) || tstatus != "" || len(afters) != 1 {
		t.Fatalf("callback error: status %q err %v connections %d", tstatus, err, len(afters))
	}
}
