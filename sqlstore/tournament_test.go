package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

func testSettings() crucible.TournamentSettings {
	return crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 3, Advance: 1,
		GroupTasks: 1, PairTasks: 1, BossTasks: 3, Hours: 0.01, EntryWindow: time.Minute,
		Pool: []crucible.TournamentTaskSpec{
			{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "facts.jsonl"},
			{Type: crucible.TaskGRPO, Model: "tiny", Dataset: "arith.jsonl", Rewards: []crucible.Reward{{Name: "numeric_answer", Weight: 1}}},
		},
		GroupTypes: []crucible.TaskType{crucible.TaskInstruct}, KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct},
		BossTypes: []crucible.TaskType{crucible.TaskInstruct, crucible.TaskGRPO},
	}
}

// Tournaments, entries, matches, champions and events round-trip through
// the store on both databases; a second entry by a miner, or a method
// another miner entered, is refused and nothing is written; versions guard
// updates.
func TestTournamentStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		tour := &crucible.Tournament{Settings: testSettings(), EntriesClose: time.Now().Add(time.Minute)}
		if err := s.CreateTournament(ctx, tour); err != nil {
			t.Fatal(err)
		}
		if tour.ID == "" || tour.Status != crucible.TournamentEntries || tour.Version != 1 {
			t.Fatalf("created %+v", tour)
		}
		got, err := s.FindTournament(ctx, tour.ID)
		if err != nil || !reflect.DeepEqual(got, tour) {
			t.Fatalf("round trip:\n%+v\n%+v\n%v", got, tour, err)
		}
		bad := &crucible.Tournament{Settings: testSettings()}
		bad.Settings.PairTasks = 2
		if err := s.CreateTournament(ctx, bad); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("even pair tasks accepted: %v", err)
		}

		// Entries.
		m1 := crucible.Method{Strategy: "auto", Version: "recipe-1"}
		e1 := &crucible.TournamentEntry{TournamentID: tour.ID, Hotkey: "5Alice", Method: m1, MethodHash: m1.Hash(), Fee: 0.2, FeeBlock: 7,
			SignedAt: time.Now(), Signature: "aa"}
		if err := s.AddEntry(ctx, e1); err != nil {
			t.Fatal(err)
		}
		twice := *e1
		twice.Method = crucible.Method{Strategy: "full"}
		twice.MethodHash = twice.Method.Hash()
		if err := s.AddEntry(ctx, &twice); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("second entry of a miner: %v", err)
		}
		copycat := *e1
		copycat.Hotkey = "5Mallory"
		if err := s.AddEntry(ctx, &copycat); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("another's method hash: %v", err)
		}
		ghost := *e1
		ghost.TournamentID, ghost.Hotkey = "00000000-0000-4000-8000-000000000000", "5Bob"
		if err := s.AddEntry(ctx, &ghost); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("entry of an unknown tournament: %v", err)
		}
		m2 := crucible.Method{Strategy: "command", Image: "sha256:abc"}
		e2 := &crucible.TournamentEntry{TournamentID: tour.ID, Hotkey: "5Bob", Method: m2, MethodHash: m2.Hash(), SignedAt: time.Now(), Signature: "bb"}
		if err := s.AddEntry(ctx, e2); err != nil {
			t.Fatal(err)
		}
		entries, err := s.FindEntries(ctx, tour.ID)
		if err != nil || len(entries) != 2 || !reflect.DeepEqual(entries[0], e1) || entries[1].Hotkey != "5Bob" {
			t.Fatalf("entries %+v, %v", entries, err)
		}

		// Updates are version-checked.
		stale := *got
		got.Status, got.Round, got.Defender, got.DefenderWins = crucible.TournamentRunning, 1, "5Champ", 2
		margin := 0.12
		got.Margin = &margin
		if err := s.UpdateTournament(ctx, got); err != nil || got.Version != 2 {
			t.Fatalf("update: %v (version %d)", err, got.Version)
		}
		if err := s.UpdateTournament(ctx, &stale); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("stale update: %v", err)
		}
		again, _ := s.FindTournament(ctx, tour.ID)
		if !reflect.DeepEqual(again, got) {
			t.Errorf("after update:\n%+v\n%+v", again, got)
		}
		if list, err := s.FindTournaments(ctx, crucible.TournamentFilter{Statuses: []crucible.TournamentStatus{crucible.TournamentRunning}}); err != nil || len(list) != 1 {
			t.Errorf("running tournaments: %d, %v", len(list), err)
		}
		if list, _ := s.FindTournaments(ctx, crucible.TournamentFilter{Statuses: []crucible.TournamentStatus{crucible.TournamentFinished}}); len(list) != 0 {
			t.Errorf("finished tournaments: %d", len(list))
		}

		// Matches.
		loss := 1.5
		m := &crucible.TournamentMatch{TournamentID: tour.ID, Round: 1, Index: 0, Kind: crucible.MatchPair, Members: []string{"5Alice", "5Bob"},
			Tasks: []crucible.MatchTask{{TaskID: "t1", Type: crucible.TaskInstruct}}}
		if err := s.SaveMatch(ctx, m); err != nil || m.Version != 1 {
			t.Fatalf("insert match: %v", err)
		}
		dup := *m
		dup.Version = 0
		if err := s.SaveMatch(ctx, &dup); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("a second match 1/0: %v", err)
		}
		m.Tasks[0].Done, m.Tasks[0].Winner = true, "5Alice"
		m.Tasks[0].Results = []crucible.MatchResult{{Hotkey: "5Alice", Loss: &loss}, {Hotkey: "5Bob", Failure: "no upload"}}
		m.Done, m.Advance, m.Note = true, []string{"5Alice"}, "5Alice won"
		if err := s.SaveMatch(ctx, m); err != nil || m.Version != 2 {
			t.Fatalf("update match: %v", err)
		}
		old := *m
		old.Version = 1
		if err := s.SaveMatch(ctx, &old); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("stale match: %v", err)
		}
		bye := &crucible.TournamentMatch{TournamentID: tour.ID, Round: 1, Index: 1, Kind: crucible.MatchPair, Members: []string{"5Carol"}}
		if err := s.SaveMatch(ctx, bye); err != nil {
			t.Fatal(err)
		}
		ms, err := s.FindMatches(ctx, tour.ID)
		if err != nil || len(ms) != 2 || !reflect.DeepEqual(ms[0], m) || ms[1].Tasks == nil || len(ms[1].Tasks) != 0 {
			t.Fatalf("matches %+v %v\nwant %+v", ms[0], err, m)
		}

		// Champions.
		seeded := &crucible.Champion{Hotkey: "5Champ", Method: m2, MethodHash: m2.Hash(), Wins: 1, Seeded: true}
		if err := s.AddChampion(ctx, seeded); err != nil {
			t.Fatal(err)
		}
		won := &crucible.Champion{Hotkey: "5Alice", Method: m1, MethodHash: m1.Hash(), TournamentID: tour.ID, Wins: 1, Margin: &margin}
		if err := s.AddChampion(ctx, won); err != nil {
			t.Fatal(err)
		}
		twiceWon := *won
		if err := s.AddChampion(ctx, &twiceWon); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("a tournament's second champion: %v", err)
		}
		cs, err := s.FindChampions(ctx, 0)
		if err != nil || len(cs) != 2 || !reflect.DeepEqual(cs[0], won) || !reflect.DeepEqual(cs[1], seeded) {
			t.Fatalf("champions %+v %v", cs, err)
		}

		// Events.
		for _, msg := range []string{"entries open", "round 1"} {
			if err := s.AppendTournamentEvent(ctx, &crucible.TournamentEvent{TournamentID: tour.ID, Kind: "log", Message: msg, Data: map[string]any{"n": 1.0}}); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := s.FindTournamentEvents(ctx, tour.ID, 0, 0)
		if err != nil || len(evs) != 2 || evs[1].Message != "round 1" || evs[0].Data["n"] != 1.0 {
			t.Fatalf("events %+v %v", evs, err)
		}
		if evs, _ := s.FindTournamentEvents(ctx, tour.ID, evs[0].ID, 0); len(evs) != 1 {
			t.Errorf("events after the first: %d", len(evs))
		}
		if err := s.AppendTournamentEvent(ctx, &crucible.TournamentEvent{TournamentID: "nope", Kind: "log"}); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("event of an unknown tournament: %v", err)
		}
	})
}

// A task's competition, assignees and tournament round-trip, and a task
// created with an ID of its own keeps it; creating it again is a conflict.
func TestTaskRouting(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		task := newTask("m")
		task.ID = "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab"
		task.Competition, task.Assignees, task.Tournament = crucible.CompetitionTournament, []string{"5Alice", "5Bob"}, "tour-1"
		task = mustCreate(t, s, task)
		if task.ID != "6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab" {
			t.Fatalf("preset id replaced by %s", task.ID)
		}
		got, err := s.FindTask(ctx, task.ID)
		if err != nil || got.Competition != crucible.CompetitionTournament || !reflect.DeepEqual(got.Assignees, task.Assignees) || got.Tournament != "tour-1" {
			t.Fatalf("round trip %+v %v", got, err)
		}
		again := newTask("m")
		again.ID = task.ID
		if err := s.CreateTask(ctx, again); crucible.ErrorCode(err) != crucible.ECONFLICT {
			t.Errorf("same id twice: %v", err)
		}
		odd := newTask("m")
		odd.ID = "../../etc"
		if err := s.CreateTask(ctx, odd); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("non-UUID id: %v", err)
		}
		bad := newTask("m")
		bad.Competition = "lottery"
		if err := s.CreateTask(ctx, bad); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("unknown competition: %v", err)
		}
	})
}
