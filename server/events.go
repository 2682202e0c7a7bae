package server

import (
	"context"
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
	return streamSSE(s, w, r, after,
		func(ctx context.Context) (string, bool, error) {
			t, err := s.b.FindTask(ctx, taskID)
			if err != nil {
				return "", false, err
			}
			return string(t.Status), t.Status.Terminal(), nil
		},
		func(ctx context.Context, after int64, limit int) ([]*crucible.TaskEvent, error) {
			return s.b.FindEvents(ctx, crucible.EventFilter{TaskID: taskID, AfterID: after, Limit: limit})
		},
		func(e *crucible.TaskEvent) (int64, string) { return e.ID, e.Kind })
}

// streamSSE is the loop of an event stream: it sends the events after
// after as they are appended ("id", "event" set to the kind, "data" the
// JSON event), polling every EventPoll with a comment as heartbeat, and an
// "end" event with the subject's status once the subject has ended and
// all its events are out. status is read before the events, so that when
// the subject is seen ended every event of its life is already stored.
func streamSSE[E any](s *Server, w http.ResponseWriter, r *http.Request, after int64,
	status func(context.Context) (string, bool, error),
	events func(ctx context.Context, after int64, limit int) ([]E, error),
	meta func(E) (id int64, kind string)) error {
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
	const page = 500
	for {
		st, ended, err := status(ctx)
		if err != nil {
			return quiet(err)
		}
		for {
			evs, err := events(ctx, after, page)
			if err != nil {
				return quiet(err)
			}
			for _, e := range evs {
				b, _ := json.Marshal(e)
				id, kind := meta(e)
				fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, kind, b)
				after = id
			}
			if len(evs) > 0 {
				flusher.Flush()
				lastWrite = time.Now()
			}
			if len(evs) < page {
				break
			}
		}
		if ended {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: {\"status\":%q}\n\n", after, api.EventEnd, st)
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
