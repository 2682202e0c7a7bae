package auditor

import (
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
)

// champion is what the auditor knows of the title holder from the log.
type champion struct {
	hotkey string
	wins   int
	margin *float64
}

// tournamentAudit re-derives the tournaments of a log, in order, and
// keeps the latest one's outcome for the weights that follow it.
type tournamentAudit struct {
	a      *Auditor
	byTask map[string]resultlog.TaskResult // the task results logged so far
	champ  *champion                       // the champion after the tournaments seen so far
	last   *scoring.TournamentOutcome
	count  int
	flag   func(int64, string, string, ...any)
}

// check re-derives one tournament from what the log says about it: every
// entry's signature and method hash; the draw of every round from the
// previous round's advancers (seeded, so it must come out the same); every
// task's results against the task's own logged results; every task's and
// match's decision with the spec's rules, the boss round's threshold from
// the defender's wins; the champion it leaves, its wins in a row and
// margin. Then it becomes the outcome later weights are checked against.
func (ta *tournamentAudit) check(t resultlog.Tournament, seq int64) {
	ta.count++
	bad := func(format string, args ...any) {
		ta.flag(seq, "", "tournament %s: %s", t.TournamentID, fmt.Sprintf(format, args...))
	}
	spec, err := scoring.Lookup(t.SpecVersion)
	if err != nil || spec.Tournament == nil {
		bad("spec %q has no tournament rules", t.SpecVersion)
		return
	}
	ts := *spec.Tournament
	var entrants []string
	for _, e := range t.Entries {
		entrants = append(entrants, e.Hotkey)
		if e.Method.Hash() != e.MethodHash {
			bad("%s's method hash %.12s… is not its method's", e.Hotkey, e.MethodHash)
		}
		sig, err := hex.DecodeString(e.Signature)
		if err != nil || ta.a.verify(e.Hotkey, crucible.EntryMessage(t.TournamentID, e.Hotkey, e.MethodHash, e.Fee, e.SignedAt), sig) != nil {
			bad("%s's entry is not signed by it", e.Hotkey)
		}
		if e.Fee != t.Settings.Fee {
			bad("%s paid %g TAO, the fee is %g", e.Hotkey, e.Fee, t.Settings.Fee)
		}
	}
	// The defender must be the champion the log knows (a seeded one, before
	// any tournament, is taken as given).
	if ta.champ != nil && (t.Defender != ta.champ.hotkey || t.DefenderWins != ta.champ.wins) {
		bad("defender %s with %d win(s), but the log's champion is %s with %d", t.Defender, t.DefenderWins, ta.champ.hotkey, ta.champ.wins)
	}
	byRound := map[int][]*crucible.TournamentMatch{}
	last := 0
	for _, m := range t.Matches {
		byRound[m.Round] = append(byRound[m.Round], m)
		last = max(last, m.Round)
	}
	field := entrants
	for round := 1; round <= last; round++ {
		ms := byRound[round]
		if len(ms) == 0 {
			bad("round %d has no matches", round)
			return
		}
		if ms[0].Kind == crucible.MatchBoss {
			if len(ms) != 1 || len(field) != 1 || !slices.Equal(ms[0].Members, []string{field[0], t.Defender}) {
				bad("the boss round's members %v are not the bracket's winner %v against the defender %s", ms[0].Members, field, t.Defender)
			}
		} else {
			kind, plan := scoring.PlanRound(field, scoring.SeedOf(t.TournamentID, round), scoring.RulesOf(t.Settings))
			if len(plan) != len(ms) {
				bad("round %d has %d matches, the draw %d", round, len(ms), len(plan))
				return
			}
			for i, m := range ms {
				if m.Kind != kind || !slices.Equal(m.Members, plan[i]) {
					bad("round %d match %d is %s %v, the draw makes it %s %v", round, i+1, m.Kind, m.Members, kind, plan[i])
				}
			}
		}
		field = nil
		for _, m := range ms {
			ta.checkMatch(t, ts, m, bad)
			field = append(field, m.Advance...)
		}
	}
	// The champion the tournament leaves.
	winner := t.Defender
	if last > 0 && len(byRound[last]) > 0 && byRound[last][0].Kind == crucible.MatchBoss {
		winner = byRound[last][0].Advance[0]
	} else if len(field) == 1 {
		winner = field[0]
	}
	if winner != t.Winner {
		bad("the winner is %s, the bracket makes it %s", t.Winner, winner)
	}
	next := &champion{hotkey: winner, wins: 1}
	switch {
	case winner == "":
		next = nil
	case winner == t.Defender:
		next.wins = max(t.DefenderWins, 1) + 1
		if ta.champ != nil {
			next.margin = ta.champ.margin
		}
	case t.Defender != "":
		next.margin = t.Margin
	}
	if next != nil && (next.wins != t.ChampionWins || !sameFloat(next.margin, t.ChampionMargin)) {
		bad("the champion's wins %d and margin %v do not follow from the bracket (%d, %v)", t.ChampionWins, ptr(t.ChampionMargin), next.wins, ptr(next.margin))
	}
	if next != nil {
		ta.champ = next
	}
	// Weights use the log's own account, as the validator's do.
	ta.last = scoring.OutcomeOf(t.TournamentID, entrants, t.Defender, t.Winner, t.Matches, t.ChampionMargin, t.ChampionWins)
}

// checkMatch re-derives one match: each task's results against the task's
// logged results, each task's winner and the match's advancers.
func (ta *tournamentAudit) checkMatch(t resultlog.Tournament, ts scoring.TournamentSpec, m *crucible.TournamentMatch, bad func(string, ...any)) {
	if len(m.Members) == 1 && m.Kind == crucible.MatchPair {
		if !slices.Equal(m.Advance, m.Members) {
			bad("round %d: a bye's member does not go on", m.Round)
		}
		return
	}
	for k, mt := range m.Tasks {
		if !mt.Done {
			bad("round %d match %d task %d is not decided", m.Round, m.Index+1, k+1)
			continue
		}
		ta.checkResults(mt, bad)
		var winner string
		if m.Kind == crucible.MatchBoss {
			thr := ts.Threshold(t.DefenderWins)
			if mt.Threshold == nil || math.Abs(*mt.Threshold-thr) > 1e-12 {
				bad("boss task %s used threshold %v, the champion's wins make it %g", mt.TaskID, ptr(mt.Threshold), thr)
			}
			var margin *float64
			winner, margin, _ = ts.BossTask(mt, m.Members[0], m.Members[1], thr)
			if !sameFloat(margin, mt.Margin) {
				bad("boss task %s: margin %v, the results make it %v", mt.TaskID, ptr(mt.Margin), ptr(margin))
			}
		} else {
			winner = scoring.TaskWinner(mt, m.Members)
		}
		if winner != mt.Winner {
			bad("task %s was won by %q, its results make it %q", mt.TaskID, mt.Winner, winner)
		}
	}
	var want []string
	switch m.Kind {
	case crucible.MatchGroup:
		want = scoring.GroupAdvance(m.Tasks, m.Members, t.Settings.Advance)
	case crucible.MatchPair:
		if w := scoring.PairWinner(m.Tasks, m.Members); w != "" {
			want = []string{w}
		}
	case crucible.MatchBoss:
		w, _ := scoring.BossOutcome(m.Tasks, m.Members[0], m.Members[1])
		want = []string{w}
	}
	if !slices.Equal(want, m.Advance) {
		bad("round %d match %d: %v go on, the rules make it %v", m.Round, m.Index+1, m.Advance, want)
	}
}

// checkResults compares a match task's results with the task's own entry
// in the log: the same loss or reward for every member who has one, and a
// failure wherever the task logged one.
func (ta *tournamentAudit) checkResults(mt crucible.MatchTask, bad func(string, ...any)) {
	tr, ok := ta.byTask[mt.TaskID]
	if !ok {
		// A task that ended before its submissions were ranked (nobody
		// took it, every evaluation failed) is not logged: every member
		// must then have failed.
		for _, r := range mt.Results {
			if r.Failure == "" {
				bad("task %s is not in the log, yet %s has a result", mt.TaskID, r.Hotkey)
			}
		}
		return
	}
	logged := map[string]resultlog.MinerResult{}
	for _, m := range tr.Miners {
		logged[m.Hotkey] = m
	}
	for _, r := range mt.Results {
		l, ok := logged[r.Hotkey]
		switch {
		case !ok:
			if r.Failure == "" {
				bad("task %s: %s has a result, but took no part in the task", mt.TaskID, r.Hotkey)
			}
		case r.Failure != "":
			if l.Failure == "" && (l.Loss != nil || l.Reward != nil) {
				bad("task %s: %s counted as failed, but the task logged a result", mt.TaskID, r.Hotkey)
			}
		case r.Loss != nil:
			if l.Failure != "" || l.Loss == nil || *l.Loss != *r.Loss {
				bad("task %s: %s's loss %g is not the task's %v", mt.TaskID, r.Hotkey, *r.Loss, ptr(l.Loss))
			}
		case r.Reward != nil:
			if l.Failure != "" || l.Reward == nil || l.Reward.Score != *r.Reward {
				bad("task %s: %s's reward %g is not the task's", mt.TaskID, r.Hotkey, *r.Reward)
			}
		}
	}
}

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return math.Abs(*a-*b) <= 1e-12
}

func ptr(p *float64) any {
	if p == nil {
		return "none"
	}
	return *p
}
