package localnet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
)

// TournamentMiners are the tournament demo's miners, each its own
// strategy (adaptive among them: it learns from the tournament's published
// results from one round to the next); the first is seeded as the
// defending champion, the others enter.
var TournamentMiners = []string{"lora-fast", "auto", "adaptive", "lora-quality", "full", "lora-small"}

// TournamentSettings are the demo's tournament rules: more than four
// entrants play groups of about three (the best of each goes on), then
// knockout pairs; the boss round plays an instruct, a dpo and a grpo task
// (the grpo one rewarded by DemoRewards); every task's window is window
// (its training budget, or every turn's with sequential miners).
func TournamentSettings(model string, window time.Duration, instruct, dpo, grpo string) crucible.TournamentSettings {
	return crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 2, Advance: 1,
		GroupTasks: 1, PairTasks: 1, BossTasks: 3, Hours: window.Hours(), EntryWindow: 5 * time.Second,
		Pool: []crucible.TournamentTaskSpec{
			{Type: crucible.TaskInstruct, Model: model, Dataset: instruct},
			{Type: crucible.TaskDPO, Model: model, Dataset: dpo},
			{Type: crucible.TaskGRPO, Model: model, Dataset: grpo, Rewards: DemoRewards},
		},
		GroupTypes:    []crucible.TaskType{crucible.TaskInstruct},
		KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct},
		BossTypes:     []crucible.TaskType{crucible.TaskInstruct, crucible.TaskDPO, crucible.TaskGRPO},
	}
}

// SeedChampion makes miner i the champion, with the method it would enter.
func (n *Net) SeedChampion(ctx context.Context, i int) (*crucible.Champion, error) {
	m := n.Miners[i]
	return n.Validator.SeedChampion(ctx, m.Key().Address(), m.Miner().Method())
}

// FollowTournament calls show with each of a tournament's events as they
// are recorded (polling the store) until it ends, and returns it.
func (n *Net) FollowTournament(ctx context.Context, id string, show func(*crucible.TournamentEvent)) (*crucible.Tournament, error) {
	store := n.Validator.Store()
	return follow(ctx,
		func(ctx context.Context) (*crucible.Tournament, bool, error) {
			t, err := store.FindTournament(ctx, id)
			return t, err == nil && t.Status.Terminal(), err
		},
		func(ctx context.Context, after int64) ([]*crucible.TournamentEvent, error) {
			return store.FindTournamentEvents(ctx, id, after, 0)
		},
		func(e *crucible.TournamentEvent) int64 { return e.ID }, show)
}

// Named replaces every miner's hotkey in s with its strategy's name.
func (n *Net) Named(s string) string {
	keys := make([]string, 0, len(n.Names))
	for h := range n.Names {
		keys = append(keys, h)
	}
	sort.Strings(keys)
	for _, h := range keys {
		s = strings.ReplaceAll(s, h, n.Names[h])
	}
	return s
}

// PrintBracket writes a finished (or running) tournament's bracket: every
// round's matches, each task's results and winner, the boss round's
// threshold and margins, and the champion it left.
func (n *Net) PrintBracket(ctx context.Context, t *crucible.Tournament, w io.Writer) error {
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	matches, err := n.Validator.Store().FindMatches(ctx, t.ID)
	if err != nil {
		return err
	}
	round := 0
	for _, m := range matches {
		if m.Round != round {
			round = m.Round
			switch m.Kind {
			case crucible.MatchGroup:
				say("round %d · group stage (the best %d of each group go on)", round, t.Settings.Advance)
			case crucible.MatchPair:
				say("round %d · knockout", round)
			case crucible.MatchBoss:
				thr := scoring.Default().Tournament.Threshold(t.DefenderWins)
				say("round %d · boss round: %s challenges the champion %s (beat it by %.1f%% on a task; %d of %d tasks needed)",
					round, n.who(m.Members[0]), n.who(m.Members[1]), 100*thr, len(m.Tasks)/2+1, t.Settings.BossTasks)
			}
		}
		title := fmt.Sprintf("%s %d", m.Kind, m.Index+1)
		if m.Kind == crucible.MatchBoss {
			title = "boss"
		}
		if len(m.Members) == 1 {
			say("  %-8s %s: bye", title, n.who(m.Members[0]))
			continue
		}
		for k, mt := range m.Tasks {
			var parts []string
			for _, r := range mt.Results {
				switch {
				case r.Loss != nil:
					parts = append(parts, fmt.Sprintf("%s %.4f", n.who(r.Hotkey), *r.Loss))
				case r.Reward != nil:
					parts = append(parts, fmt.Sprintf("%s reward %.4f", n.who(r.Hotkey), *r.Reward))
				default:
					parts = append(parts, fmt.Sprintf("%s failed", n.who(r.Hotkey)))
				}
			}
			if !mt.Done {
				parts = append(parts, "(playing)")
			}
			line := fmt.Sprintf("  %-8s task %d %-8s %s", title, k+1, mt.Type, strings.Join(parts, "  "))
			if mt.Done {
				line += "  → " + n.whoOr(mt.Winner, "nobody")
				if m.Kind == crucible.MatchBoss && mt.Note != "" {
					line += " (" + mt.Note + ")"
				}
			}
			say("%s", line)
			title = ""
		}
		if m.Done {
			say("  %-8s %s", "", n.Named(m.Note))
		}
	}
	switch {
	case t.Status != crucible.TournamentFinished:
		say("tournament %s: %s %s", t.ID, t.Status, t.Failure)
	case t.Winner == "":
		say("no champion: every entrant failed")
	case t.Winner == t.Defender:
		say("champion: %s keeps the title", n.who(t.Winner))
	default:
		say("champion: %s", n.who(t.Winner))
	}
	return nil
}

// whoOr names a miner, or says none.
func (n *Net) whoOr(hotkey, none string) string {
	if hotkey == "" {
		return none
	}
	return n.who(hotkey)
}
