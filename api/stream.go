package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// stopWatch carries an error of a watcher's own callback, which ends a
// watch at once instead of being retried like a broken stream.
type stopWatch struct{ err error }

func (e stopWatch) Error() string { return e.err.Error() }
func (e stopWatch) Unwrap() error { return e.err }

// watchStream follows the server-sent event stream at path (a task's or a
// tournament's events, named what and id in errors) from the event after:
// each event is decoded as E and handed to fn, until the stream's end
// event (whose status S it returns), fn returns an error (returned as it
// is), the server refuses (a bad key, an unknown id), or ctx ends. A
// dropped connection is resumed after the last event seen; five drops in
// a row without a new event end the watch.
func watchStream[S ~string, E any](ctx context.Context, c *Client, what, id, path string, after int64, idOf func(*E) int64, fn func(*E) error) (S, error) {
	for attempt := 0; ; attempt++ {
		status, last, err := watchStreamOnce[S](ctx, c, what, id, path, after, idOf, fn)
		if status != "" || ctx.Err() != nil {
			return status, err
		}
		var stop stopWatch
		if errors.As(err, &stop) {
			return "", stop.err
		}
		var ce *crucible.Error
		if err != nil && errors.As(err, &ce) && ce.Code != crucible.EINTERNAL {
			return "", err
		}
		if last > after {
			after, attempt = last, 0
		}
		if attempt >= 5 {
			return "", fmt.Errorf("watch %s %s: %w", what, id, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
}

// watchStreamOnce reads one connection of a stream; it returns the final
// status when the stream ended with its end event, and the last event id
// seen.
func watchStreamOnce[S ~string, E any](ctx context.Context, c *Client, what, id, path string, after int64, idOf func(*E) int64, fn func(*E) error) (S, int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+path+"?after="+strconv.FormatInt(after, 10), nil)
	if err != nil {
		return "", after, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", after, crucible.Wrap(err, crucible.EINTERNAL, "watch %s %s", what, id)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", after, ResponseError(resp)
	}
	var status S
	err = readEvents(resp.Body, func(event string, data []byte) (bool, error) {
		if event == EventEnd {
			var end struct {
				Status S `json:"status"`
			}
			if err := json.Unmarshal(data, &end); err != nil {
				return false, fmt.Errorf("watch %s %s: end event %q: %w", what, id, data, err)
			}
			status = end.Status
			return true, nil
		}
		var e E
		if err := json.Unmarshal(data, &e); err != nil {
			return false, fmt.Errorf("watch %s %s: event %q: %w", what, id, data, err)
		}
		after = max(after, idOf(&e))
		if err := fn(&e); err != nil {
			return false, stopWatch{err}
		}
		return false, nil
	})
	switch {
	case status != "":
		return status, after, nil
	case err == nil:
		err = io.ErrUnexpectedEOF
	case errors.As(err, new(stopWatch)):
		return "", after, err
	}
	return "", after, crucible.Wrap(err, crucible.EINTERNAL, "watch %s %s: the stream broke", what, id)
}

// readEvents reads server-sent events, calling fn with each event's name
// and data until fn says it is done or returns an error, or the stream ends.
func readEvents(r io.Reader, fn func(event string, data []byte) (done bool, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if len(data) > 0 {
				done, err := fn(event, []byte(strings.Join(data, "\n")))
				if done || err != nil {
					return err
				}
			}
			event, data = "", nil
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	return sc.Err()
}
