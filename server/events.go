package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// taskEvents answers with a task's events after ?after=ID: a JSON list, or,
// when the client accepts text/event-stream (EventSource does), a live
// stream of them.
func (s *Server) taskEvents(w http.ResponseWriter, r *http.Request, c *caller) error {
	t, err := s.findTask(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	after, err := afterID(r)
	if err != nil {
		return err
	}
	if wantsStream(r) {
		return s.streamEvents(w, r, t.ID, after)
	}
	limit, err := intParam(r.URL.Query().Get("limit"), 1000, 1, 1000)
	if err != nil {
		return err
	}
	evs, err := s.b.FindEvents(r.Context(), crucible.EventFilter{TaskID: t.ID, AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(evs))
	return nil
}

// wantsStream reports whether the client asked for server-sent events.
func wantsStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream") || r.URL.Query().Get("stream") == "1"
}

// afterID is where a stream resumes: the Last-Event-ID an EventSource sends
// when it reconnects, else ?after=.
func afterID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, crucible.Errorf(crucible.EINVALID, "after=%q is not an event id", v)
	}
	return n, nil
}

// streamEvents sends a task's events as server-sent events ("id", "event"
// set to the kind, "data" the JSON TaskEvent) as they are appended, and an
// "end" event once the task has finished and all its events are out.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request, taskID string, after int64) error {
	flusher, ok := w.(http.Flusher)
	if !ok {
		return crucible.Errorf(crucible.EINTERNAL, "streaming is not supported by this connection")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: %d\n\n", max(s.opt.EventPoll.Milliseconds(), 500))
	flusher.Flush()
	ctx := r.Context()
	poll := time.NewTicker(s.opt.EventPoll)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		// Read the task before its events, so that when it is seen finished
		// every event of its life is already in the store.
		t, err := s.b.FindTask(ctx, taskID)
		if err != nil {
			return quiet(err)
		}
		for {
			evs, err := s.b.FindEvents(ctx, crucible.EventFilter{TaskID: taskID, AfterID: after, Limit: 500})
			if err != nil {
				return quiet(err)
			}
			for _, e := range evs {
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Kind, b)
				after = e.ID
			}
			if len(evs) > 0 {
				flusher.Flush()
				lastWrite = time.Now()
			}
			if len(evs) < 500 {
				break
			}
		}
		if t.Status.Terminal() {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"status\":%q}\n\n", after, api.EventEnd, t.Status)
			flusher.Flush()
			return nil
		}
		if time.Since(lastWrite) >= s.opt.Heartbeat {
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
			lastWrite = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}
