package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/server/browsertest"
)

// The test backend announces tournaments and seeds champions straight in
// its store (the node's lifecycle is not running).
func (b *testBackend) Announce(ctx context.Context, s crucible.TournamentSettings) (*crucible.Tournament, error) {
	t := &crucible.Tournament{Settings: s, EntriesClose: time.Now().Add(s.EntryWindow)}
	return t, b.CreateTournament(ctx, t)
}

func (b *testBackend) SeedChampion(ctx context.Context, hotkey string, m crucible.Method) (*crucible.Champion, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	c := &crucible.Champion{Hotkey: hotkey, Method: m, MethodHash: m.Hash(), Wins: 1, Seeded: true}
	return c, b.AddChampion(ctx, c)
}

func tournamentSettings() crucible.TournamentSettings {
	return crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 2, Advance: 1, GroupTasks: 1, PairTasks: 1, BossTasks: 3,
		Hours: 0.1, EntryWindow: time.Minute,
		Pool:       []crucible.TournamentTaskSpec{{Type: crucible.TaskInstruct, Model: "tiny-llama", Dataset: "facts.jsonl"}},
		GroupTypes: []crucible.TaskType{crucible.TaskInstruct}, KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct},
		BossTypes: []crucible.TaskType{crucible.TaskInstruct},
	}
}

// A played tournament as the API and the dashboard show it: the list with
// the champion, the bracket with every task's results and the boss
// round's margin, the champions' history and the events (JSON and live).
// Only admins announce tournaments or seed a champion; bad input is
// refused.
func TestTournamentsAPI(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	// Customers may not announce or seed; nothing is written.
	e.do(e.customer, "POST", api.PathTournaments, tournamentSettings(), http.StatusForbidden, nil)
	e.do("", "POST", api.PathTournaments, tournamentSettings(), http.StatusUnauthorized, nil)
	e.do(e.customer, "POST", api.PathChampions, api.SeedChampionRequest{Hotkey: "5Champ", Method: crucible.Method{Strategy: "x"}}, http.StatusForbidden, nil)
	var list api.TournamentList
	e.do("", "GET", api.PathTournaments, nil, http.StatusOK, &list)
	if len(list.Tournaments) != 0 || list.Champion != nil {
		t.Fatalf("refused requests wrote: %+v", list)
	}
	bad := tournamentSettings()
	bad.PairTasks = 2
	e.do(e.admin, "POST", api.PathTournaments, bad, http.StatusBadRequest, nil)
	e.do(e.admin, "POST", api.PathChampions, api.SeedChampionRequest{Hotkey: "5Champ", Method: crucible.Method{Strategy: "bad name"}}, http.StatusBadRequest, nil)

	var ch crucible.Champion
	e.do(e.admin, "POST", api.PathChampions, api.SeedChampionRequest{Hotkey: "5Champ", Method: crucible.Method{Strategy: "lora-fast"}}, http.StatusCreated, &ch)
	var tour crucible.Tournament
	e.do(e.admin, "POST", api.PathTournaments, tournamentSettings(), http.StatusCreated, &tour)
	// Play it in the store: a pair and a boss round.
	l1, l2, l3 := 2.1, 2.5, 2.6
	margin := (l3 - l1) / l1
	thr := 0.1
	pair := &crucible.TournamentMatch{TournamentID: tour.ID, Round: 1, Kind: crucible.MatchPair, Members: []string{"5Alice", "5Bob"},
		Tasks: []crucible.MatchTask{{TaskID: "t1", Type: crucible.TaskInstruct, Done: true, Winner: "5Alice", Note: "lowest test loss",
			Results: []crucible.MatchResult{{Hotkey: "5Alice", Loss: &l1}, {Hotkey: "5Bob", Loss: &l2}}}},
		Done: true, Advance: []string{"5Alice"}, Note: "winner: 5Alice"}
	boss := &crucible.TournamentMatch{TournamentID: tour.ID, Round: 2, Kind: crucible.MatchBoss, Members: []string{"5Alice", "5Champ"},
		Tasks: []crucible.MatchTask{{TaskID: "t2", Type: crucible.TaskInstruct, Done: true, Winner: "5Alice", Threshold: &thr, Margin: &margin,
			Results: []crucible.MatchResult{{Hotkey: "5Alice", Loss: &l1}, {Hotkey: "5Champ", Failure: "no result uploaded"}}}}}
	must(t, e.b.SaveMatch(ctx, pair))
	must(t, e.b.SaveMatch(ctx, boss))
	must(t, e.b.AppendTournamentEvent(ctx, &crucible.TournamentEvent{TournamentID: tour.ID, Kind: "round", Message: "round 1: knockout pairs"}))

	e.do("", "GET", api.PathTournaments, nil, http.StatusOK, &list)
	if len(list.Tournaments) != 1 || list.Champion == nil || list.Champion.Hotkey != "5Champ" {
		t.Fatalf("list %+v", list)
	}
	var d api.TournamentDetail
	e.do("", "GET", api.PathTournaments+"/"+tour.ID, nil, http.StatusOK, &d)
	if len(d.Matches) != 2 || d.Matches[1].Tasks[0].Margin == nil || d.Threshold != 0.10 {
		t.Fatalf("detail %+v", d)
	}
	var cs []*crucible.Champion
	e.do("", "GET", api.PathChampions, nil, http.StatusOK, &cs)
	if len(cs) != 1 || !cs[0].Seeded {
		t.Fatalf("champions %+v", cs)
	}
	var evs []*crucible.TournamentEvent
	e.do("", "GET", api.PathTournaments+"/"+tour.ID+api.TournamentEventsPath, nil, http.StatusOK, &evs)
	if len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	for _, path := range []string{"/../etc", "/0000-not-a-uuid-00", "/" + strings.Repeat("a", 300)} {
		resp := e.raw("", "GET", api.PathTournaments+path, nil, nil)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET tournament %q: %d", path, resp.StatusCode)
		}
	}

	// The live stream ends once the tournament has.
	cur, _ := e.b.FindTournament(ctx, tour.ID)
	cur.Status, cur.Winner = crucible.TournamentFinished, "5Alice"
	must(t, e.b.UpdateTournament(ctx, cur))
	c := &api.Client{BaseURL: e.ts.URL}
	var seen []string
	status, err := c.WatchTournament(ctx, tour.ID, 0, func(ev *crucible.TournamentEvent) error { seen = append(seen, ev.Message); return nil })
	if err != nil || status != crucible.TournamentFinished || len(seen) != 1 {
		t.Fatalf("watch: %s %v %v", status, err, seen)
	}

	// The dashboard: the list, and the bracket with the margin.
	resp, body := e.page("", "GET", "/tournaments", nil, "")
	if resp.StatusCode != 200 || !strings.Contains(body, "lora-fast") || !strings.Contains(body, tour.ID[:8]) {
		t.Fatalf("tournaments page %d:\n%s", resp.StatusCode, body)
	}
	resp, body = e.page("", "GET", "/tournaments/"+tour.ID, nil, "")
	for _, want := range []string{"Challenger vs champion", "2.1000", "failed", "23.8%", "Pair 1", "is the new champion", "round 1: knockout pairs"} {
		if !strings.Contains(body, want) {
			t.Errorf("tournament page lacks %q:\n%s", want, body)
		}
	}
	if resp.StatusCode != 200 {
		t.Errorf("tournament page: %d", resp.StatusCode)
	}
	// Both pages at desktop and phone widths in Chromium, where there is one.
	if browsertest.Chromium() != "" {
		browsertest.LookAt(t, e.ts.URL, e.customer, "tournament-", []browsertest.Page{
			{Name: "list", Path: "/tournaments", WaitFor: "main h1"},
			{Name: "bracket", Path: "/tournaments/" + tour.ID, WaitFor: "main h1"},
		})
	}
}

// A customer may ask for an open competition or the champion, nothing else.
func TestCreateTaskCompetition(t *testing.T) {
	e := newEnv(t, Options{})
	var up api.DatasetUpload
	e.upload(e.customer, "instruct.jsonl", http.StatusCreated, &up)
	body := e.do(e.customer, "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(), Competition: "tournament"}, http.StatusBadRequest, nil)
	if !strings.Contains(string(body), "want open or champion") {
		t.Errorf("%s", body)
	}
	var created api.CreatedTask
	e.do(e.customer, "POST", api.PathTasks, api.CreateTaskRequest{Model: "tiny-llama", Dataset: up.Ref(), Competition: "open"}, http.StatusCreated, &created)
	if created.Task.Competition != crucible.CompetitionOpen {
		t.Errorf("competition %q", created.Task.Competition)
	}
}
