package validator_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/validator"
)

// Seven entrants play a group stage (groups of 3 and 4; the best of each
// goes on), a knockout final and a boss round against the seeded
// champion, whom the challenger beats by more than the threshold on every
// task: it becomes the champion, the history records its margin, and the
// weights rank it first with a boosted share.
func TestTournamentNewChampion(t *testing.T) {
	tn := newTourney(t, "champ", "a", "b", "c", "d", "e", "f", "g")
	tn.seed("champ", 1)
	tn.play = func(h string, typ crucible.TaskType, k int) outcome {
		skill := map[string]float64{"champ": 0.5, "a": 0.30, "b": 0.6, "c": 0.7, "d": 0.8, "e": 0.9, "f": 0.95, "g": 0.99}[tn.name(h)]
		return outcome{loss: skill, reward: 1 - skill}
	}
	tour := tn.announce(settings())
	tn.enter(tour.ID, "a", "b", "c", "d", "e", "f", "g")
	end := tn.run(tour.ID)
	s := tn.summary(tour.ID)
	if end.Status != crucible.TournamentFinished || tn.name(end.Winner) != "a" || tn.name(end.Challenger) != "a" || end.Defender != tn.hotkey("champ") {
		t.Fatalf("outcome:\n%s", s)
	}
	if !strings.Contains(s, "round 1 group 0") || !strings.Contains(s, "round 2 pair 0") || !strings.Contains(s, "round 3 boss 0 [a champ] → [a]") {
		t.Errorf("bracket:\n%s", s)
	}
	cs, _ := tn.store.FindChampions(context.Background(), 0)
	if len(cs) != 2 || tn.name(cs[0].Hotkey) != "a" || cs[0].Wins != 1 || cs[0].Margin == nil || cs[0].TournamentID != tour.ID {
		t.Fatalf("history:\n%s", s)
	}
	// Loss tasks: (0.5−0.3)/0.3; reward tasks: (0.7−0.5)/0.5: the median of
	// three (two loss tasks, one grpo) is the loss margin.
	if want := (0.5 - 0.3) / 0.3; math.Abs(*cs[0].Margin-want) > 1e-9 {
		t.Errorf("margin %g, want %g", *cs[0].Margin, want)
	}
	out, err := tn.v.LastTournament(context.Background())
	if err != nil || out == nil || out.Winner != tn.hotkey("a") || len(out.Participants) != 8 || out.Wins != 1 {
		t.Fatalf("last tournament %+v %v", out, err)
	}
	w, err := tn.v.ComputeWeights(context.Background(), tn.now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, x := range w {
		got[tn.name(x.Hotkey)] = x.Weight
	}
	if got["a"] <= got["b"] || got[scoring.BurnKey] <= 0 || math.Abs(got["champ"]-0.0001) > 1e-12 {
		t.Errorf("weights %v", got)
	}
	// The new champion's pool is boosted: 2·(margin−0.05), capped at 0.6.
	ts := scoring.Default().Tournament
	if share := ts.ChampionShare(cs[0].Margin, 1); share != 0.6 {
		t.Errorf("champion share %g", share)
	}
}

// The challenger is better than the champion, but not by the threshold:
// the champion keeps the title, one more win in a row and the margin it
// first won with; its threshold for the next boss round is lower.
func TestTournamentChampionDefends(t *testing.T) {
	tn := newTourney(t, "champ", "a", "b")
	tn.seed("champ", 1)
	tn.play = func(h string, typ crucible.TaskType, k int) outcome {
		switch tn.name(h) {
		case "champ":
			return outcome{loss: 1.0, reward: 0.5}
		case "a":
			return outcome{loss: 0.95, reward: 0.52} // 5.3% and 4% better: under the 10% threshold
		}
		return outcome{loss: 2, reward: 0.1}
	}
	tour := tn.announce(settings())
	tn.enter(tour.ID, "a", "b")
	end := tn.run(tour.ID)
	s := tn.summary(tour.ID)
	if tn.name(end.Winner) != "champ" || tn.name(end.Challenger) != "a" || !strings.Contains(s, "the challenger won 0 of 3 tasks (2 needed): the champion keeps the title") {
		t.Fatalf("outcome:\n%s", s)
	}
	cs, _ := tn.store.FindChampions(context.Background(), 0)
	if tn.name(cs[0].Hotkey) != "champ" || cs[0].Wins != 2 || cs[0].Margin != nil || cs[0].TournamentID != tour.ID {
		t.Fatalf("history:\n%s", s)
	}
	ms, _ := tn.store.FindMatches(context.Background(), tour.ID)
	boss := ms[len(ms)-1]
	if boss.Kind != crucible.MatchBoss || *boss.Tasks[0].Threshold != 0.10 {
		t.Errorf("boss threshold %v", boss.Tasks[0].Threshold)
	}
	if thr := scoring.Default().Tournament.Threshold(cs[0].Wins); math.Abs(thr-0.08) > 1e-12 {
		t.Errorf("next threshold %g", thr)
	}
}

// Failed training counts for the other side; when both fail the champion
// keeps the task.
func TestTournamentBossFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		champ  func(k int) outcome
		chal   func(k int) outcome
		winner string
	}{
		{"the challenger fails everything", func(int) outcome { return outcome{loss: 9, reward: -5} },
			func(int) outcome { return outcome{failure: "no result uploaded before the deadline"} }, "champ"},
		{"the champion fails everything", func(int) outcome { return outcome{failure: "start_training failed"} },
			func(int) outcome { return outcome{loss: 9, reward: -5} }, "a"},
		{"both fail everything", func(int) outcome { return outcome{failure: "x"} }, func(int) outcome { return outcome{failure: "y"} }, "champ"},
		{"the champion fails one, loses one, wins one", func(k int) outcome {
			return []outcome{{failure: "oom"}, {loss: 1, reward: 0.1}, {loss: 1, reward: 0.1}}[k]
		}, func(k int) outcome {
			return []outcome{{loss: 5, reward: 0.1}, {loss: 0.5, reward: 0.9}, {loss: 2, reward: -1}}[k]
		}, "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tn := newTourney(t, "champ", "a", "b")
			tn.seed("champ", 3)
			boss := 0
			tn.play = func(h string, typ crucible.TaskType, k int) outcome {
				switch tn.name(h) {
				case "b":
					return outcome{failure: "no result"} // a beats b in the pair
				case "a":
					return c.chal(boss % 3)
				}
				defer func() { boss++ }()
				return c.champ(boss % 3)
			}
			tour := tn.announce(settings())
			tn.enter(tour.ID, "a", "b")
			end := tn.run(tour.ID)
			if tn.name(end.Winner) != c.winner {
				t.Fatalf("winner %s:\n%s", tn.name(end.Winner), tn.summary(tour.ID))
			}
		})
	}
}

// Without a champion the bracket's winner takes the title without a boss
// round; with too few entrants the tournament is cancelled; when every
// entrant fails, nobody wins and the champion (if any) keeps the title.
func TestTournamentEdges(t *testing.T) {
	t.Run("no champion", func(t *testing.T) {
		tn := newTourney(t, "a", "b", "c")
		tn.play = bySkill(map[string]float64{tn.hotkey("a"): 0.2, tn.hotkey("b"): 0.4, tn.hotkey("c"): 0.3})
		tour := tn.announce(settings())
		tn.enter(tour.ID, "a", "b", "c")
		end := tn.run(tour.ID)
		s := tn.summary(tour.ID)
		if tn.name(end.Winner) != "a" || strings.Contains(s, "boss") || !strings.Contains(s, "has a bye") && !strings.Contains(s, "(bye)") {
			t.Fatalf("outcome:\n%s", s)
		}
		cs, _ := tn.store.FindChampions(context.Background(), 0)
		if len(cs) != 1 || cs[0].Wins != 1 || cs[0].Margin != nil {
			t.Errorf("history:\n%s", s)
		}
	})
	t.Run("too few entrants", func(t *testing.T) {
		tn := newTourney(t, "a", "b")
		tour := tn.announce(settings())
		tn.enter(tour.ID, "a")
		end := tn.run(tour.ID)
		if end.Status != crucible.TournamentCancelled || !strings.Contains(end.Failure, "1 miner(s) entered; the tournament needs 2") {
			t.Fatalf("%+v", end)
		}
	})
	t.Run("everyone fails", func(t *testing.T) {
		tn := newTourney(t, "champ", "a", "b")
		tn.seed("champ", 1)
		tn.play = func(string, crucible.TaskType, int) outcome { return outcome{failure: "broken"} }
		tour := tn.announce(settings())
		tn.enter(tour.ID, "a", "b")
		end := tn.run(tour.ID)
		cs, _ := tn.store.FindChampions(context.Background(), 0)
		if tn.name(end.Winner) != "champ" || end.Challenger != "" || cs[0].Wins != 2 {
			t.Fatalf("outcome:\n%s", tn.summary(tour.ID))
		}
	})
}

// A crash at every write of the lifecycle — before it is done, or after —
// and a restart end in the same tournament as an uninterrupted run: the
// same bracket, decisions and champion, no task created twice, one
// champion entry and one results-log entry.
func TestTournamentCrashAtEveryStep(t *testing.T) {
	run := func(t *testing.T, at int, after bool) (string, int) {
		tn := newTourney(t, "champ", "a", "b", "c", "d", "e")
		tn.seed("champ", 1)
		skill := map[string]float64{"champ": 0.5, "a": 0.2, "b": 0.6, "c": 0.7, "d": 0.4, "e": 0.9}
		tn.play = func(h string, _ crucible.TaskType, _ int) outcome {
			return outcome{loss: skill[tn.name(h)], reward: 1 - skill[tn.name(h)]}
		}
		tour := tn.announce(settings())
		tn.enter(tour.ID, "a", "b", "c", "d", "e")
		tn.store.at, tn.store.after, tn.store.writes = at, after, 0
		tn.run(tour.ID)
		return tn.summary(tour.ID), tn.store.writes
	}
	want, writes := run(t, 0, false)
	if !strings.Contains(want, "champion a wins 1") || !strings.Contains(want, "log: 1 tournament entries") {
		t.Fatalf("uninterrupted run:\n%s", want)
	}
	for at := 1; at <= writes; at++ {
		for _, after := range []bool{false, true} {
			if got, _ := run(t, at, after); got != want {
				t.Fatalf("crash at write %d (after: %v):\n%s\nwant:\n%s", at, after, got, want)
			}
		}
	}
	t.Logf("%d crash points, twice each", writes)
}

// Entries are checked before anything is written: a miner entering twice,
// with another entrant's or the champion's method hash, the champion
// entering, an entry signed by another key or not signed at all, a fee or
// method hash that does not match, a stale signature, an unregistered
// miner or a closed tournament are refused, and the entries stay as they
// were.
func TestTournamentEntryAttacks(t *testing.T) {
	tn := newTourney(t, "champ", "alice", "bob", "mallory")
	tn.seed("champ", 1)
	tour := tn.announce(settings())
	ctx := context.Background()
	tn.enter(tour.ID, "alice")
	stranger, _ := sign.FromURI("//tournament-test//stranger")
	tn.keys["stranger"] = stranger

	forged := tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 0)
	byBob := tn.entry("bob", tour.ID, crucible.Method{Strategy: "mallory"}, 0)
	forged.Signature = byBob.Signature // bob's signature on mallory's entry
	badHash := tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 0)
	badHash.MethodHash = crucible.Method{Strategy: "other"}.Hash()
	stale := tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 0)
	stale.SignedAt = tn.now.Add(-time.Hour)
	resigned := tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 0)
	resigned.Method.Version = "v2" // the method changed after signing: its hash no longer matches

	for _, c := range []struct {
		name string
		from string
		req  api.EnterRequest
		code string
		msg  string
	}{
		{"enters twice", tn.hotkey("alice"), tn.entry("alice", tour.ID, crucible.Method{Strategy: "alice-2"}, 0), crucible.ECONFLICT, "has entered tournament"},
		{"another's method", tn.hotkey("mallory"), tn.entry("mallory", tour.ID, crucible.Method{Strategy: "alice"}, 0), crucible.ECONFLICT, "is " + tn.hotkey("alice") + "'s entry"},
		{"the champion's method", tn.hotkey("mallory"), tn.entry("mallory", tour.ID, crucible.Method{Strategy: "champ"}, 0), crucible.ECONFLICT, "is the champion's"},
		{"the champion enters", tn.hotkey("champ"), tn.entry("champ", tour.ID, crucible.Method{Strategy: "champ-2"}, 0), crucible.EFORBIDDEN, "defends its title"},
		{"forged signature", tn.hotkey("mallory"), forged, crucible.EUNAUTHORIZED, "signature is not"},
		{"unsigned", "", tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 0), crucible.EUNAUTHORIZED, "must be signed"},
		{"someone else's entry", tn.hotkey("mallory"), tn.entry("bob", tour.ID, crucible.Method{Strategy: "bob"}, 0), crucible.EUNAUTHORIZED, "signature is not"},
		{"wrong fee", tn.hotkey("mallory"), tn.entry("mallory", tour.ID, crucible.Method{Strategy: "mallory"}, 1), crucible.EINVALID, "entry fee"},
		{"method hash mismatch", tn.hotkey("mallory"), badHash, crucible.EINVALID, "is not the hash"},
		{"method changed after signing", tn.hotkey("mallory"), resigned, crucible.EINVALID, "is not the hash"},
		{"stale signature", tn.hotkey("mallory"), stale, crucible.EINVALID, "more than"},
		{"bad method", tn.hotkey("mallory"), tn.entry("mallory", tour.ID, crucible.Method{Strategy: "../../x y"}, 0), crucible.EINVALID, "method strategy"},
		{"unregistered", stranger.Address(), tn.entry("stranger", tour.ID, crucible.Method{Strategy: "stranger"}, 0), crucible.EFORBIDDEN, "not a registered miner"},
		{"unknown tournament", tn.hotkey("mallory"), tn.entry("mallory", "0b0c3e1a-5d2f-4a6b-9c8d-0e1f2a3b4c5d", crucible.Method{Strategy: "mallory"}, 0), crucible.ENOTFOUND, "not found"},
		{"tournament id not an id", tn.hotkey("mallory"), tn.entry("mallory", "../x", crucible.Method{Strategy: "mallory"}, 0), crucible.EINVALID, "tournament"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id := tour.ID
			if strings.HasPrefix(c.name, "unknown") {
				id = "0b0c3e1a-5d2f-4a6b-9c8d-0e1f2a3b4c5d"
			} else if strings.HasSuffix(c.name, "not an id") {
				id = "../x"
			}
			_, err := tn.v.Enter(ctx, c.from, id, c.req)
			if crucible.ErrorCode(err) != c.code || !strings.Contains(crucible.ErrorMessage(err), c.msg) {
				t.Fatalf("got %v, want %s containing %q", err, c.code, c.msg)
			}
			entries, _ := tn.store.FindEntries(ctx, tour.ID)
			if len(entries) != 1 || entries[0].Hotkey != tn.hotkey("alice") {
				t.Fatalf("entries changed: %+v", entries)
			}
		})
	}
	// Once entries close, nobody enters.
	tn.now = tour.EntriesClose
	if _, err := tn.v.Enter(ctx, tn.hotkey("bob"), tour.ID, tn.entry("bob", tour.ID, crucible.Method{Strategy: "bob"}, 0)); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("entry after the close: %v", err)
	}
}

// An entry fee is charged when the entry is accepted, once, and a miner
// whose stake does not cover it is refused with nothing written.
func TestTournamentEntryFee(t *testing.T) {
	tn := newTourney(t, "alice", "bob")
	fees := &fakeFees{stake: map[string]float64{tn.hotkey("alice"): 1}}
	tn.deps.Fees = fees
	tn.restart()
	s := settings()
	s.Fee = 0.2
	tour := tn.announce(s)
	ctx := context.Background()
	r, err := tn.v.Enter(ctx, tn.hotkey("alice"), tour.ID, tn.entry("alice", tour.ID, crucible.Method{Strategy: "alice"}, 0.2))
	if err != nil || r.FeeBlock != 7 || math.Abs(fees.stake[tn.hotkey("alice")]-0.8) > 1e-12 {
		t.Fatalf("receipt %+v, %v; stake %v", r, err, fees.stake)
	}
	if _, err := tn.v.Enter(ctx, tn.hotkey("bob"), tour.ID, tn.entry("bob", tour.ID, crucible.Method{Strategy: "bob"}, 0.2)); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Fatalf("bob without stake: %v", err)
	}
	if _, err := tn.v.Enter(ctx, tn.hotkey("alice"), tour.ID, tn.entry("alice", tour.ID, crucible.Method{Strategy: "alice-2"}, 0.2)); crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Fatalf("alice twice: %v", err)
	}
	entries, _ := tn.store.FindEntries(ctx, tour.ID)
	if len(entries) != 1 || entries[0].FeeBlock != 7 || math.Abs(fees.stake[tn.hotkey("alice")]-0.8) > 1e-12 || len(fees.charged) != 1 {
		t.Fatalf("entries %+v, stake %v, charged %v", entries, fees.stake, fees.charged)
	}
	// Without a fee charger, a tournament with a fee is refused.
	tn.deps.Fees = nil
	tn.restart()
	if err := tn.v.CheckTournament(ctx, &s); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a fee without a chain to charge it: %v", err)
	}
}

type fakeFees struct {
	stake   map[string]float64
	charged []string
}

func (f *fakeFees) ChargeFee(_ context.Context, hotkey string, amount float64, memo string) (int64, error) {
	if f.stake[hotkey] < amount {
		return 0, crucible.Errorf(crucible.EINVALID, "a fee of %g TAO is more than the stake", amount)
	}
	f.stake[hotkey] -= amount
	f.charged = append(f.charged, hotkey+" "+memo)
	return 7, nil
}

func (f *fakeFees) RefundFee(context.Context, string, string) error { return nil }

// A pool task the validator cannot set (its dataset is gone) cancels the
// tournament with the reason, rather than counting against the members.
func TestTournamentPoolTaskCannotBeSet(t *testing.T) {
	tn := newTourney(t, "a", "b")
	s := settings()
	tour := tn.announce(s)
	tn.enter(tour.ID, "a", "b")
	tn.deps.Submit = func(ctx context.Context, task *crucible.Task, note string) error {
		return crucible.Errorf(crucible.ENOTFOUND, "dataset %s not found", task.Dataset)
	}
	tn.v, _ = validator.New(tn.cfg, tn.deps)
	end := tn.run(tour.ID)
	if end.Status != crucible.TournamentCancelled || !strings.Contains(end.Failure, "cannot be set: dataset facts.jsonl not found") {
		t.Fatalf("%s: %s", end.Status, end.Failure)
	}
}
