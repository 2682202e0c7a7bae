package validator

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// finish decides the champion the tournament leaves (the boss round's
// winner; the bracket's winner when there was no defender; the defender
// when nobody went through), appends the tournament to the results log,
// records the champion and marks it finished, in that order. Each of the three writes is keyed by
// the tournament, so a re-run after a crash repeats none.
func (v *Validator) finish(ctx context.Context, t *crucible.Tournament, boss *crucible.TournamentMatch) error {
	switch {
	case boss != nil:
		t.Winner = boss.Advance[0]
		_, t.Margin = scoring.BossOutcome(boss.Tasks, boss.Members[0], boss.Members[1])
	case t.Challenger != "":
		t.Winner = t.Challenger
	default:
		t.Winner = t.Defender
	}
	champ, err := v.championAfter(ctx, t)
	if err != nil {
		return err
	}
	// The results log comes first: the champions' history (what the API
	// and the next tournament read) never holds a champion the log does
	// not, even when the validator dies between the writes.
	v.outcomeMu.Lock()
	err = v.logTournament(ctx, t, champ)
	if err == nil && champ != nil {
		if aerr := v.Store.AddChampion(ctx, champ); aerr != nil && crucible.ErrorCode(aerr) != crucible.ECONFLICT {
			err = aerr
		}
	}
	if err == nil {
		now := v.Now()
		t.Status, t.FinishedAt = crucible.TournamentFinished, &now
		err = v.saveTournament(ctx, t)
	}
	v.outcomeMu.Unlock()
	if err != nil {
		return err
	}
	msg := "finished without a champion: every entrant failed"
	switch {
	case t.Winner == "":
	case t.Winner == t.Defender:
		msg = fmt.Sprintf("finished: the champion %s keeps the title (%d win(s) in a row)", t.Winner, champ.Wins)
	default:
		msg = fmt.Sprintf("finished: %s is the new champion", t.Winner)
	}
	v.tevent(ctx, t.ID, "status", msg, map[string]any{"winner": t.Winner, "margin": t.Margin})
	return nil
}

// championAfter is the champions' history entry a tournament adds: the
// defender one more win in a row (keeping the margin it first won with),
// or a new champion with its entered method and this tournament's margin.
// Nil when nobody holds the title.
func (v *Validator) championAfter(ctx context.Context, t *crucible.Tournament) (*crucible.Champion, error) {
	if t.Winner == "" {
		return nil, nil
	}
	if t.Winner == t.Defender {
		prev, err := v.previousChampion(ctx, t)
		if err != nil {
			return nil, err
		}
		return &crucible.Champion{Hotkey: t.Winner, Method: prev.Method, MethodHash: prev.MethodHash, TournamentID: t.ID,
			Wins: max(t.DefenderWins, 1) + 1, Margin: prev.Margin}, nil
	}
	entries, err := v.Store.FindEntries(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Hotkey == t.Winner {
			c := &crucible.Champion{Hotkey: t.Winner, Method: e.Method, MethodHash: e.MethodHash, TournamentID: t.ID, Wins: 1}
			if t.Defender != "" {
				c.Margin = t.Margin // won a boss round: its margin sets its boost
			}
			return c, nil
		}
	}
	return nil, crucible.Errorf(crucible.EINTERNAL, "tournament %s: winner %s has no entry", t.ID, t.Winner)
}

// previousChampion is the defender's latest history entry before t.
func (v *Validator) previousChampion(ctx context.Context, t *crucible.Tournament) (*crucible.Champion, error) {
	cs, err := v.Store.FindChampions(ctx, 1000)
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.TournamentID != t.ID && c.Hotkey == t.Defender {
			return c, nil
		}
	}
	return nil, crucible.Errorf(crucible.EINTERNAL, "tournament %s: the defender %s is not in the champions' history", t.ID, t.Defender)
}

// logTournament appends the tournament to the results log (once).
func (v *Validator) logTournament(ctx context.Context, t *crucible.Tournament, champ *crucible.Champion) error {
	if v.Signer == nil {
		return nil
	}
	p, err := v.tournamentRecord(ctx, t, champ)
	if err != nil {
		return err
	}
	return v.appendLogOnce(ctx, resultlog.KindTournament, p, "tournament_id", t.ID)
}

// tournamentRecord is a finished tournament as the results log carries it.
func (v *Validator) tournamentRecord(ctx context.Context, t *crucible.Tournament, champ *crucible.Champion) (*resultlog.Tournament, error) {
	entries, err := v.Store.FindEntries(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	matches, err := v.Store.FindMatches(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	p := &resultlog.Tournament{TournamentID: t.ID, SpecVersion: v.spec.Version, Settings: t.Settings, Defender: t.Defender,
		DefenderWins: t.DefenderWins, Matches: matches, Challenger: t.Challenger, Winner: t.Winner, Margin: t.Margin}
	for _, e := range entries {
		p.Entries = append(p.Entries, *e)
	}
	if champ != nil {
		p.ChampionWins, p.ChampionMargin = champ.Wins, champ.Margin
	}
	if t.FinishedAt != nil {
		p.FinishedAt = *t.FinishedAt
	} else {
		p.FinishedAt = v.Now().UTC()
	}
	return p, nil
}

// LastTournament is the outcome of the latest finished tournament, what
// weights are computed from; nil when none has finished.
func (v *Validator) LastTournament(ctx context.Context) (*scoring.TournamentOutcome, error) {
	ts, err := v.Store.FindTournaments(ctx, crucible.TournamentFilter{Statuses: []crucible.TournamentStatus{crucible.TournamentFinished}, Limit: 20})
	if err != nil || len(ts) == 0 {
		return nil, err
	}
	// The latest to finish (as the results log orders them), not the
	// latest created.
	t := ts[0]
	for _, x := range ts[1:] {
		if x.FinishedAt != nil && t.FinishedAt != nil && x.FinishedAt.After(*t.FinishedAt) {
			t = x
		}
	}
	entries, err := v.Store.FindEntries(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	matches, err := v.Store.FindMatches(ctx, t.ID)
	if err != nil {
		return nil, err
	}
	var entrants []string
	for _, e := range entries {
		entrants = append(entrants, e.Hotkey)
	}
	var margin *float64
	wins := 0
	if c, err := v.championAfter(ctx, t); err != nil {
		return nil, err
	} else if c != nil {
		margin, wins = c.Margin, c.Wins
	}
	return scoring.OutcomeOf(t.ID, entrants, t.Defender, t.Winner, matches, margin, wins), nil
}

// appendLogOnce appends an entry unless a recent entry of the same kind
// carries the same value under key.
func (v *Validator) appendLogOnce(ctx context.Context, kind string, payload any, key, value string) error {
	last, err := v.Store.LastResult(ctx)
	if err != nil && crucible.ErrorCode(err) != crucible.ENOTFOUND {
		return err
	}
	if last != nil {
		recent, err := v.Store.FindResults(ctx, max(0, last.Seq-200), 0)
		if err != nil {
			return err
		}
		for _, e := range recent {
			var m map[string]any
			if e.Kind == kind && json.Unmarshal(e.Payload, &m) == nil && m[key] == value {
				return nil
			}
		}
	}
	return v.appendLog(ctx, kind, payload, "")
}
