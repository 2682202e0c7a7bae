package validator

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// The tournament lifecycle. A tournament moves entries → running →
// finished (or cancelled) through TournamentStep, which, like Step for a
// task, does the next idempotent piece of work and says when it wants to
// run again:
//
//   - entries: announce the tournament to every miner once; when entries
//     close, cancel it if too few entered, else record the defending
//     champion and draw round 1;
//   - running: move every match of the current round on (create its next
//     task, collect the results of a finished one, decide the match); once
//     the round is decided draw the next round, the boss round (bracket
//     winner against the defender) or finish;
//   - finishing records the champion the tournament leaves in the history,
//     appends the tournament to the results log and marks it finished.
//
// Every write is version-checked or keyed (matches by round and index,
// tasks by an ID derived from their match), so a crash between any two
// writes is redone by the next step without a duplicate.

// TournamentPoll is the longest a running tournament waits between two
// looks at its tasks; a task that ends kicks it sooner.
const TournamentPoll = time.Minute

// CheckTournament checks a tournament's settings before it is stored:
// they validate, the pool's models resolve, and a fee has a chain to be
// charged on.
func (v *Validator) CheckTournament(ctx context.Context, s *crucible.TournamentSettings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	for i, p := range s.Pool {
		if _, err := v.Models.ResolveModel(ctx, p.Model); err != nil {
			return crucible.Wrap(err, crucible.ErrorCode(err), "tournament pool task %d", i+1)
		}
	}
	if s.Fee > 0 && v.Fees == nil {
		return crucible.Errorf(crucible.EINVALID, "tournament: an entry fee needs a chain that charges it").
			WithHint("entry fees are charged on the local chain; leave the fee at 0 on another")
	}
	if v.Submit == nil {
		return crucible.Errorf(crucible.EINTERNAL, "validator: tournaments need a task submitter")
	}
	return nil
}

// Champion returns the current champion. Returns ENOTFOUND when there is
// none.
func (v *Validator) Champion(ctx context.Context) (*crucible.Champion, error) {
	cs, err := v.Store.FindChampions(ctx, 1)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "there is no champion yet")
	}
	return cs[0], nil
}

// TournamentStep does the next piece of work on a tournament and returns
// when it wants to be called again: the zero time once it has ended.
func (v *Validator) TournamentStep(ctx context.Context, id string) (time.Time, error) {
	t, err := v.Store.FindTournament(ctx, id)
	if err != nil {
		return time.Time{}, err
	}
	now := v.Now()
	switch t.Status {
	case crucible.TournamentEntries:
		if now.Before(t.EntriesClose) {
			if err := v.announce(ctx, t); err != nil {
				return time.Time{}, err
			}
			return t.EntriesClose, nil
		}
		return now, v.closeEntries(ctx, t)
	case crucible.TournamentRunning:
		return v.play(ctx, t)
	}
	return time.Time{}, nil
}

// saveTournament saves t; a concurrent change is not an error (the next
// step reads it again).
func (v *Validator) saveTournament(ctx context.Context, t *crucible.Tournament) error {
	err := v.Store.UpdateTournament(ctx, t)
	if crucible.ErrorCode(err) == crucible.ECONFLICT {
		v.Log.Info("tournament changed concurrently; will re-read", "tournament", t.ID)
		return nil
	}
	return err
}

// tevent appends a line to a tournament's history; failing to record it
// is logged, never fatal.
func (v *Validator) tevent(ctx context.Context, id, kind, msg string, data map[string]any) {
	if err := v.Store.AppendTournamentEvent(ctx, &crucible.TournamentEvent{TournamentID: id, Kind: kind, Message: msg, Data: data}); err != nil {
		v.Log.Warn("record tournament event", "tournament", id, "err", err)
	}
}

// closeEntries ends the entry window: too few entrants cancel the
// tournament; otherwise the defending champion is recorded and round 1 is
// drawn.
func (v *Validator) closeEntries(ctx context.Context, t *crucible.Tournament) error {
	entries, err := v.Store.FindEntries(ctx, t.ID)
	if err != nil {
		return err
	}
	if len(entries) < t.Settings.MinEntrants {
		now := v.Now()
		t.Status, t.FinishedAt = crucible.TournamentCancelled, &now
		t.Failure = fmt.Sprintf("%d miner(s) entered; the tournament needs %d", len(entries), t.Settings.MinEntrants)
		if err := v.saveTournament(ctx, t); err != nil {
			return err
		}
		v.tevent(ctx, t.ID, "status", "cancelled: "+t.Failure, nil)
		return nil
	}
	field := make([]string, len(entries))
	for i, e := range entries {
		field[i] = e.Hotkey
	}
	if t.Defender == "" {
		switch c, err := v.Champion(ctx); {
		case err == nil:
			t.Defender, t.DefenderMethodHash, t.DefenderWins = c.Hotkey, c.MethodHash, c.Wins
		case crucible.ErrorCode(err) != crucible.ENOTFOUND:
			return err
		}
	}
	msg := fmt.Sprintf("entries closed: %d entrants", len(entries))
	if t.Defender != "" {
		msg += fmt.Sprintf("; %s defends the title (%d win(s) in a row)", t.Defender, t.DefenderWins)
	}
	v.tevent(ctx, t.ID, "status", msg, map[string]any{"entrants": field, "defender": t.Defender})
	if err := v.drawRound(ctx, t, 1, field); err != nil {
		return err
	}
	t.Status, t.Round = crucible.TournamentRunning, 1
	return v.saveTournament(ctx, t)
}

// drawRound stores a round's matches, drawn from the field by the
// tournament's rules (scoring.PlanRound, seeded by the tournament and the
// round); matches stored by an earlier, interrupted attempt are kept.
func (v *Validator) drawRound(ctx context.Context, t *crucible.Tournament, round int, field []string) error {
	kind, matches := scoring.PlanRound(field, scoring.SeedOf(t.ID, round), scoring.RulesOf(t.Settings))
	existing, err := v.roundMatches(ctx, t.ID, round)
	if err != nil {
		return err
	}
	var lines []string
	for i, members := range matches {
		lines = append(lines, "["+strings.Join(members, " ")+"]")
		if existing[i] != nil {
			continue
		}
		m := &crucible.TournamentMatch{TournamentID: t.ID, Round: round, Index: i, Kind: kind, Members: members}
		if err := v.Store.SaveMatch(ctx, m); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
			return err
		}
	}
	what := "knockout pairs"
	if kind == crucible.MatchGroup {
		what = fmt.Sprintf("group stage, top %d of each group go on", t.Settings.Advance)
	}
	v.tevent(ctx, t.ID, "round", fmt.Sprintf("round %d: %s: %s", round, what, strings.Join(lines, " ")),
		map[string]any{"round": round, "kind": string(kind), "matches": matches})
	return nil
}

// roundMatches returns a round's stored matches by index.
func (v *Validator) roundMatches(ctx context.Context, id string, round int) (map[int]*crucible.TournamentMatch, error) {
	all, err := v.Store.FindMatches(ctx, id)
	if err != nil {
		return nil, err
	}
	out := map[int]*crucible.TournamentMatch{}
	for _, m := range all {
		if m.Round == round {
			out[m.Index] = m
		}
	}
	return out, nil
}

// play moves the current round on and, once it is decided, starts the next
// round, the boss round, or finishes.
func (v *Validator) play(ctx context.Context, t *crucible.Tournament) (time.Time, error) {
	matches, err := v.roundMatches(ctx, t.ID, t.Round)
	if err != nil {
		return time.Time{}, err
	}
	if len(matches) == 0 {
		return time.Time{}, crucible.Errorf(crucible.EINTERNAL, "tournament %s: round %d has no matches", t.ID, t.Round)
	}
	decided := true
	for i := 0; i < len(matches); i++ {
		m := matches[i]
		if m == nil {
			return time.Time{}, crucible.Errorf(crucible.EINTERNAL, "tournament %s: round %d lacks match %d", t.ID, t.Round, i)
		}
		if !m.Done {
			if err := v.advanceMatch(ctx, t, m); err != nil {
				return time.Time{}, err
			}
			if t.Status.Terminal() {
				return time.Time{}, nil // cancelled: a task could not be set
			}
		}
		decided = decided && m.Done
	}
	now := v.Now()
	if !decided {
		return now.Add(TournamentPoll), nil
	}
	var field []string
	for i := 0; i < len(matches); i++ {
		field = append(field, matches[i].Advance...)
	}
	if matches[0].Kind == crucible.MatchBoss {
		return now, v.finish(ctx, t, matches[0])
	}
	switch {
	case len(field) == 0:
		v.tevent(ctx, t.ID, "round", fmt.Sprintf("round %d: nobody goes on", t.Round), nil)
		return now, v.finish(ctx, t, nil)
	case len(field) == 1 && (t.Defender == "" || t.Defender == field[0]):
		t.Challenger = field[0]
		return now, v.finish(ctx, t, nil)
	case len(field) == 1:
		t.Challenger = field[0]
		boss := &crucible.TournamentMatch{TournamentID: t.ID, Round: t.Round + 1, Index: 0, Kind: crucible.MatchBoss,
			Members: []string{t.Challenger, t.Defender}}
		if err := v.Store.SaveMatch(ctx, boss); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
			return time.Time{}, err
		}
		t.Round++
		if err := v.saveTournament(ctx, t); err != nil {
			return time.Time{}, err
		}
		v.tevent(ctx, t.ID, "round", fmt.Sprintf("round %d: boss round: %s challenges the champion %s on %d tasks (threshold %.2f%%, a strict majority wins)",
			t.Round, t.Challenger, t.Defender, t.Settings.BossTasks, 100*v.spec.Tournament.Threshold(t.DefenderWins)),
			map[string]any{"round": t.Round, "challenger": t.Challenger, "defender": t.Defender})
		return now, nil
	}
	if err := v.drawRound(ctx, t, t.Round+1, field); err != nil {
		return time.Time{}, err
	}
	t.Round++
	return now, v.saveTournament(ctx, t)
}
