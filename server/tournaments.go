package server

import (
	"context"
	"net/http"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// Tournaments in the API and the dashboard. Tournaments are public, as the
// results log that carries them is: reading needs no key; announcing one
// and seeding a champion are an admin's.

// Tournamenter is what the server needs from the node to run tournaments.
type Tournamenter interface {
	// Announce checks a tournament's settings and stores it in its entry
	// window with its lifecycle. Returns EINVALID.
	Announce(ctx context.Context, s crucible.TournamentSettings) (*crucible.Tournament, error)
	// SeedChampion makes a miner the champion of a network that has none.
	// Returns ECONFLICT when there is one, EFORBIDDEN for a hotkey that is
	// not a registered miner, EINVALID for a malformed method.
	SeedChampion(ctx context.Context, hotkey string, m crucible.Method) (*crucible.Champion, error)
}

func (s *Server) listTournaments(w http.ResponseWriter, r *http.Request, _ *caller) error {
	limit, err := intParam(r.URL.Query().Get("limit"), 50, 1, 1000)
	if err != nil {
		return err
	}
	l, err := s.tournamentList(r.Context(), limit)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, l)
	return nil
}

func (s *Server) tournamentList(ctx context.Context, limit int) (*api.TournamentList, error) {
	ts, err := s.b.FindTournaments(ctx, crucible.TournamentFilter{Limit: limit})
	if err != nil {
		return nil, err
	}
	l := &api.TournamentList{Tournaments: nonNil(ts)}
	if cs, err := s.b.FindChampions(ctx, 1); err != nil {
		return nil, err
	} else if len(cs) > 0 {
		l.Champion = cs[0]
	}
	return l, nil
}

func (s *Server) showTournament(w http.ResponseWriter, r *http.Request, _ *caller) error {
	d, err := s.tournamentDetail(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) tournamentDetail(ctx context.Context, id string) (*api.TournamentDetail, error) {
	if err := crucible.CheckID("tournament id", id); err != nil {
		return nil, err
	}
	t, err := s.b.FindTournament(ctx, id)
	if err != nil {
		return nil, err
	}
	entries, err := s.b.FindEntries(ctx, id)
	if err != nil {
		return nil, err
	}
	matches, err := s.b.FindMatches(ctx, id)
	if err != nil {
		return nil, err
	}
	return &api.TournamentDetail{Tournament: t, Entries: nonNil(entries), Matches: nonNil(matches),
		Threshold: scoring.Default().Tournament.Threshold(t.DefenderWins)}, nil
}

// createTournament announces a tournament (admins only).
func (s *Server) createTournament(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.admin() {
		return crucible.Errorf(crucible.EFORBIDDEN, "only admins announce tournaments")
	}
	tm, ok := s.b.(Tournamenter)
	if !ok {
		return crucible.Errorf(crucible.EINTERNAL, "this server runs no tournaments")
	}
	settings := crucible.DefaultTournamentSettings() // what the request leaves out
	if err := api.DecodeJSON(r.Body, maxJSON, &settings); err != nil {
		return err
	}
	settings.DefaultTypes()
	t, err := tm.Announce(r.Context(), settings)
	if err != nil {
		return err
	}
	w.Header().Set("Location", api.PathTournaments+"/"+t.ID)
	api.WriteJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) listChampions(w http.ResponseWriter, r *http.Request, _ *caller) error {
	cs, err := s.b.FindChampions(r.Context(), 100)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(cs))
	return nil
}

// seedChampion seeds the champion of a network without one (admins only).
func (s *Server) seedChampion(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.admin() {
		return crucible.Errorf(crucible.EFORBIDDEN, "only admins seed a champion")
	}
	tm, ok := s.b.(Tournamenter)
	if !ok {
		return crucible.Errorf(crucible.EINTERNAL, "this server runs no tournaments")
	}
	var req api.SeedChampionRequest
	if err := api.DecodeJSON(r.Body, maxJSON, &req); err != nil {
		return err
	}
	ch, err := tm.SeedChampion(r.Context(), req.Hotkey, req.Method)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, ch)
	return nil
}

// tournamentEvents answers with a tournament's events after ?after=ID: a
// JSON list, or a live stream of them ending with "end".
func (s *Server) tournamentEvents(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id := r.PathValue("id")
	if err := crucible.CheckID("tournament id", id); err != nil {
		return err
	}
	if _, err := s.b.FindTournament(r.Context(), id); err != nil {
		return err
	}
	after, err := afterID(r)
	if err != nil {
		return err
	}
	if wantsStream(r) {
		return s.streamTournament(w, r, id, after)
	}
	evs, err := s.b.FindTournamentEvents(r.Context(), id, after, 1000)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, nonNil(evs))
	return nil
}

// streamTournament sends a tournament's events as server-sent events as
// they are appended, and "end" once it has ended and all are out.
func (s *Server) streamTournament(w http.ResponseWriter, r *http.Request, id string, after int64) error {
	return streamSSE(s, w, r, after,
		func(ctx context.Context) (string, bool, error) {
			t, err := s.b.FindTournament(ctx, id)
			if err != nil {
				return "", false, err
			}
			return string(t.Status), t.Status.Terminal(), nil
		},
		func(ctx context.Context, after int64, limit int) ([]*crucible.TournamentEvent, error) {
			return s.b.FindTournamentEvents(ctx, id, after, limit)
		},
		func(e *crucible.TournamentEvent) (int64, string) { return e.ID, e.Kind })
}
