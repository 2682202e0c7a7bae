package api

import (
	"context"
	"net/url"
	"strconv"

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
	return watchStream[crucible.TournamentStatus](ctx, c, "tournament", id, PathTournaments+"/"+url.PathEscape(id)+TournamentEventsPath, after,
		func(e *crucible.TournamentEvent) int64 { return e.ID }, fn)
}
