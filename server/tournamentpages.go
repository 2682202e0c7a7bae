package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/crucible-net/crucible/crucible"
)

// The dashboard's tournament pages: the list with the champions' history,
// and one tournament's bracket (groups, pairs, the boss round, every
// task's results and the margins).

// tournamentsPage lists tournaments and the champions.
func (s *Server) tournamentsPage(w http.ResponseWriter, r *http.Request) {
	l, err := s.tournamentList(r.Context(), 50)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	cs, err := s.b.FindChampions(r.Context(), 20)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "tournaments", view{Title: "Tournaments", Nav: "tournaments",
		Page: map[string]any{"List": l, "Champions": cs}})
}

// bracketRound is one round of a tournament's page.
type bracketRound struct {
	Number  int
	Title   string
	Matches []bracketMatch
}

type bracketMatch struct {
	Title   string
	Members []string
	Bye     bool
	Tasks   []bracketTask
	Done    bool
	Advance []string
	Note    string
}

type bracketTask struct {
	N       int
	TaskID  string
	Type    crucible.TaskType
	Done    bool
	Results []bracketResult
	Winner  string
	Note    string
	Margin  string // the boss round's relative margin
}

type bracketResult struct {
	Hotkey  string
	Value   string // "2.3412", "reward 0.4100", "failed"
	Failure string
	Won     bool
}

// tournamentPage shows one tournament: status, entries and the bracket,
// live while it runs.
func (s *Server) tournamentPage(w http.ResponseWriter, r *http.Request) {
	d, err := s.tournamentDetail(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	t := d.Tournament
	var rounds []bracketRound
	for _, m := range d.Matches {
		if len(rounds) == 0 || rounds[len(rounds)-1].Number != m.Round {
			title := "knockout"
			switch m.Kind {
			case crucible.MatchGroup:
				title = fmt.Sprintf("group stage (the best %d of each group go on)", t.Settings.Advance)
			case crucible.MatchBoss:
				title = fmt.Sprintf("boss round: the challenger must beat the champion by more than %.1f%% on a task, and win %d of %d",
					100*d.Threshold, t.Settings.BossTasks/2+1, t.Settings.BossTasks)
			}
			rounds = append(rounds, bracketRound{Number: m.Round, Title: title})
		}
		bm := bracketMatch{Members: m.Members, Done: m.Done, Advance: m.Advance, Note: m.Note, Bye: len(m.Members) == 1 && m.Kind == crucible.MatchPair}
		switch m.Kind {
		case crucible.MatchGroup:
			bm.Title = fmt.Sprintf("Group %d", m.Index+1)
		case crucible.MatchPair:
			bm.Title = fmt.Sprintf("Pair %d", m.Index+1)
		default:
			bm.Title = "Challenger vs champion"
		}
		for k, mt := range m.Tasks {
			bt := bracketTask{N: k + 1, TaskID: mt.TaskID, Type: mt.Type, Done: mt.Done, Winner: mt.Winner, Note: mt.Note}
			if mt.Margin != nil {
				bt.Margin = strconv.FormatFloat(100**mt.Margin, 'f', 1, 64) + "%"
			}
			for _, res := range mt.Results {
				br := bracketResult{Hotkey: res.Hotkey, Failure: res.Failure, Won: mt.Done && res.Hotkey == mt.Winner}
				switch {
				case res.Loss != nil:
					br.Value = strconv.FormatFloat(*res.Loss, 'f', 4, 64)
				case res.Reward != nil:
					br.Value = "reward " + strconv.FormatFloat(*res.Reward, 'f', 4, 64)
				default:
					br.Value = "failed"
				}
				bt.Results = append(bt.Results, br)
			}
			bm.Tasks = append(bm.Tasks, bt)
		}
		rounds[len(rounds)-1].Matches = append(rounds[len(rounds)-1].Matches, bm)
	}
	evs, err := s.b.FindTournamentEvents(r.Context(), t.ID, 0, 1000)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	var last int64
	if len(evs) > 0 {
		last = evs[len(evs)-1].ID
	}
	s.render(w, r, http.StatusOK, "tournament", view{Title: "Tournament " + short(t.ID, 14), Nav: "tournaments",
		Page: map[string]any{"T": t, "Entries": d.Entries, "Rounds": rounds, "Events": evs, "Last": last, "Threshold": d.Threshold}})
}

// tournamentPageEvents streams a tournament's events to its page (live.js).
func (s *Server) tournamentPageEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.b.FindTournament(r.Context(), id); err != nil {
		s.pageError(w, r, err)
		return
	}
	after, err := afterID(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	if err := s.streamTournament(w, r, id, after); err != nil {
		s.pageError(w, r, err)
	}
}
