package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Tournaments lists up to limit tournaments (0: the server's default),
// newest first, and the current champion.
func (c *Client) Tournaments(ctx context.Context, limit int) (*TournamentList, error) {
	var l TournamentList
	path := PathTournaments
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	return &l, c.call(ctx, "GET", path, nil, &l)
}

// Tournament returns one tournament with its entries and bracket.
func (c *Client) Tournament(ctx context.Context, id string) (*TournamentDetail, error) {
	var d TournamentDetail
	return &d, c.call(ctx, "GET", PathTournaments+"/"+url.PathEscape(id), nil, &d)
}

// AnnounceTournament announces a tournament (admins).
func (c *Client) AnnounceTournament(ctx context.Context, s crucible.TournamentSettings) (*crucible.Tournament, error) {
	var t crucible.Tournament
	return &t, c.call(ctx, "POST", PathTournaments, s, &t)
}

// Champions returns the champions' history, newest first.
func (c *Client) Champions(ctx context.Context) ([]*crucible.Champion, error) {
	var cs []*crucible.Champion
	return cs, c.call(ctx, "GET", PathChampions, nil, &cs)
}

// SeedChampion makes a miner the champion of a network that has none (admins).
func (c *Client) SeedChampion(ctx context.Context, req SeedChampionRequest) (*crucible.Champion, error) {
	var ch crucible.Champion
	return &ch, c.call(ctx, "POST", PathChampions, req, &ch)
}

// WatchTournament follows a tournament's live event stream from after,
// calling fn for each event, until the tournament ends (it returns the
// final status), fn returns an error, or ctx ends. A dropped connection
// is resumed where it broke.
func (c *Client) WatchTournament(ctx context.Context, id string, after int64, fn func(*crucible.TournamentEvent) error) (crucible.TournamentStatus, error) {
	for attempt := 0; ; attempt++ {
		status, last, err := c.watchTournamentOnce(ctx, id, after, fn)
		if status != "" || ctx.Err() != nil {
			return status, err
		}
		var ce *crucible.Error
		if err != nil && errors.As(err, &ce) && ce.Code != crucible.EINTERNAL {
			return "", err
		}
		if last > after {
			after, attempt = last, 0
		}
		if attempt >= 5 {
			return "", fmt.Errorf("watch tournament %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(attempt+1) * time.Second):
		}
	}
}

func (c *Client) watchTournamentOnce(ctx context.Context, id string, after int64, fn func(*crucible.TournamentEvent) error) (crucible.TournamentStatus, int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.BaseURL+PathTournaments+"/"+url.PathEscape(id)+TournamentEventsPath+"?after="+strconv.FormatInt(after, 10), nil)
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
		return "", after, crucible.Wrap(err, crucible.EINTERNAL, "watch tournament %s", id)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", after, ResponseError(resp)
	}
	var status crucible.TournamentStatus
	err = readEvents(resp.Body, func(event string, data []byte) (bool, error) {
		if event == EventEnd {
			var end struct {
				Status crucible.TournamentStatus `json:"status"`
			}
			if err := json.Unmarshal(data, &end); err != nil {
				return false, fmt.Errorf("watch tournament %s: end event %q: %w", id, data, err)
			}
			status = end.Status
			return true, nil
		}
		var e crucible.TournamentEvent
		if err := json.Unmarshal(data, &e); err != nil {
			return false, fmt.Errorf("watch tournament %s: event %q: %w", id, data, err)
		}
		after = max(after, e.ID)
		return false, fn(&e)
	})
	if status != "" {
		return status, after, nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	if crucible.ErrorCode(err) == crucible.EINTERNAL {
		err = crucible.Wrap(err, crucible.EINTERNAL, "watch tournament %s: the stream broke", id)
	}
	return "", after, err
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
