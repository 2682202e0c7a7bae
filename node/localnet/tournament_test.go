package localnet_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/auditor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/scoring"
	"github.com/crucible-net/crucible/sign"
)

// TestTournamentNetwork plays a small tournament on a real network with
// the tiny model: three miners, the first seeded as the champion, the
// other two enter over signed HTTP, play a knockout pair and the winner a
// boss round of an instruct and a dpo task against the champion, whose
// miner meanwhile trains a customer's task. Tasks reach only their
// match's members; the champion's history, the results log and the
// weights (with the burned share) follow.
func TestTournamentNetwork(t *testing.T) {
	// Every miner trains a few steps and uploads; a task is evaluated once
	// its match's members have. Task windows are only deadlines, generous,
	// so that the outcome does not hang on how busy the machine is.
	net := startNet(t, []string{"lora-fast", "auto", "full"}, nil, func(c *minernode.Config) { c.MaxSteps = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	v := net.Validator
	champ, err := net.SeedChampion(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	dpo, err := localnet.SampleDataset(t.TempDir(), assets.FactsDPO, 120)
	if err != nil {
		t.Fatal(err)
	}
	s := crucible.TournamentSettings{
		MinEntrants: 2, KnockoutMax: 4, GroupSize: 3, MinGroupSize: 2, Advance: 1,
		GroupTasks: 1, PairTasks: 1, BossTasks: 2, Hours: (2 * time.Minute).Hours(), EntryWindow: 3 * time.Second,
		Pool: []crucible.TournamentTaskSpec{
			{Type: crucible.TaskInstruct, Model: "tiny", Dataset: facts(t, 120)},
			{Type: crucible.TaskDPO, Model: "tiny", Dataset: dpo},
		},
		GroupTypes: []crucible.TaskType{crucible.TaskInstruct}, KnockoutTypes: []crucible.TaskType{crucible.TaskInstruct},
		BossTypes: []crucible.TaskType{crucible.TaskInstruct, crucible.TaskDPO},
	}
	tour, err := v.Announce(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	organic := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: facts(t, 120), HoursToComplete: s.Hours, IsOrganic: true}
	if err := v.Submit(ctx, organic); err != nil {
		t.Fatal(err)
	}
	if organic.Competition != crucible.CompetitionChampion || len(organic.Assignees) != 1 || organic.Assignees[0] != champ.Hotkey {
		t.Fatalf("customer task not routed to the champion: %s %v", organic.Competition, organic.Assignees)
	}
	var log []string
	end, err := net.FollowTournament(ctx, tour.ID, func(e *crucible.TournamentEvent) { log = append(log, net.Named(e.Message)) })
	if err != nil {
		t.Fatalf("%v\n%v", err, log)
	}
	if testing.Verbose() {
		t.Log(strings.Join(log, "\n"))
	}
	if end.Status != crucible.TournamentFinished || end.Winner == "" || end.Defender != champ.Hotkey {
		t.Fatalf("tournament %+v\n%v", end, log)
	}
	store := v.Store()
	entries, _ := store.FindEntries(ctx, tour.ID)
	if len(entries) != 2 {
		t.Fatalf("entries %+v\n%v", entries, log)
	}
	for _, e := range entries {
		if want := net.Miners[minerIndex(net, e.Hotkey)].Miner().Method().Hash(); e.MethodHash != want {
			t.Errorf("%s entered %s, its miner's method is %s", e.Hotkey, e.MethodHash, want)
		}
	}
	matches, _ := store.FindMatches(ctx, tour.ID)
	if len(matches) != 2 || matches[0].Kind != crucible.MatchPair || matches[1].Kind != crucible.MatchBoss || len(matches[1].Tasks) != 2 {
		t.Fatalf("bracket %+v\n%v", matches, log)
	}
	for _, m := range matches {
		for _, mt := range m.Tasks {
			task, _ := store.FindTask(ctx, mt.TaskID)
			subs, _ := store.FindSubmissions(ctx, mt.TaskID)
			if task.Competition != crucible.CompetitionTournament || task.Tournament != tour.ID {
				t.Errorf("task %s: competition %q tournament %q", task.ID, task.Competition, task.Tournament)
			}
			for _, sub := range subs {
				if !contains(m.Members, sub.Hotkey) {
					t.Errorf("task %s reached %s, not a member of its match %v", task.ID, sub.Hotkey, m.Members)
				}
			}
			for _, r := range mt.Results {
				if r.Loss == nil && r.Failure == "" {
					t.Errorf("task %s: %s has neither a loss nor a failure", task.ID, r.Hotkey)
				}
			}
		}
	}
	cs, _ := store.FindChampions(ctx, 0)
	if len(cs) != 2 || cs[0].TournamentID != tour.ID || cs[0].Hotkey != end.Winner {
		t.Errorf("history %+v", cs)
	}
	// The customer's task: trained by the champion only, evaluated on the
	// hidden split against the base.
	done, err := net.Follow(ctx, organic.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	subs, _ := store.FindSubmissions(ctx, organic.ID)
	rec, _ := store.FindEvaluation(ctx, organic.ID)
	if done.Status != crucible.StatusSuccess || len(subs) != 1 || subs[0].Hotkey != champ.Hotkey || subs[0].TestLoss == nil || rec.BaseLoss == nil {
		t.Fatalf("customer task %s %s: %+v", done.Status, done.Failure, subs)
	}
	// The results log carries the tournament and its tasks as routed.
	entriesLog, _ := store.FindResults(ctx, 0, 0)
	ts, _ := resultlog.DecodeTournaments(entriesLog)
	tasks, _, _ := resultlog.Decode(entriesLog)
	if len(ts) != 1 || ts[0].Winner != end.Winner || len(ts[0].Matches) != 2 {
		t.Fatalf("tournament in the log: %+v", ts)
	}
	routed := 0
	for _, tr := range tasks {
		if tr.Routed() {
			routed++
		}
	}
	if routed != 4 || len(resultlog.Scores(tasks)) != 0 {
		t.Errorf("%d routed tasks logged of %d, %d scores", routed, len(tasks), len(resultlog.Scores(tasks)))
	}
	// Weights: the tournament's, with the rest burned.
	w, err := v.Validator().ComputeWeights(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, x := range w {
		got[x.Hotkey] = x.Weight
	}
	if got[end.Winner] < 0.1 || got[scoring.BurnKey] < 0.3 {
		t.Errorf("weights %v", got)
	}
	if _, err := v.Validator().SetWeights(ctx); err != nil {
		t.Fatal(err)
	}
	// An auditor re-derives the tournament and the weights from the log.
	entriesLog, _ = store.FindResults(ctx, 0, 0)
	report := audit(t, entriesLog, v.Key().Address())
	if !report.OK() || report.Tournaments != 1 || report.WeightSets != 1 {
		t.Fatalf("audit: %+v", report)
	}
	// A log that lies about the tournament — re-signed by the validator,
	// so that its chain of hashes holds — does not pass.
	for name, lie := range map[string]func(p map[string]any){
		"a better loss for the challenger": func(p map[string]any) {
			boss := p["matches"].([]any)[1].(map[string]any)
			forged := false
			for _, task := range boss["tasks"].([]any) {
				for _, x := range task.(map[string]any)["results"].([]any) {
					r := x.(map[string]any)
					if !forged && r["hotkey"] != end.Defender && r["loss"] != nil {
						r["loss"] = r["loss"].(float64) * 0.5
						forged = true
					}
				}
			}
			if !forged {
				t.Fatalf("no loss of the challenger's in the boss round to forge: %v", boss)
			}
		},
		"another winner": func(p map[string]any) { p["winner"] = "5Fake" },
		"a forged entry method": func(p map[string]any) {
			p["entries"].([]any)[0].(map[string]any)["method"].(map[string]any)["strategy"] = "other"
		},
		"a lower threshold": func(p map[string]any) {
			boss := p["matches"].([]any)[1].(map[string]any)
			boss["tasks"].([]any)[0].(map[string]any)["threshold"] = 0.01
		},
		"another draw": func(p map[string]any) {
			pair := p["matches"].([]any)[0].(map[string]any)
			ms := pair["members"].([]any)
			ms[0], ms[1] = ms[1], ms[0]
		},
	} {
		forged := tamper(t, entriesLog, resultlog.KindTournament, lie, v.Key())
		if r := audit(t, forged, v.Key().Address()); r.OK() {
			t.Errorf("a log with %s passes the audit", name)
		}
	}
}

// audit runs an auditor over a log.
func audit(t *testing.T, entries []*crucible.ResultEntry, validator string) *auditor.Report {
	t.Helper()
	a, err := auditor.New(auditor.Config{ValidatorHotkey: validator}, auditor.Deps{Source: logSource(entries), Verify: sign.VerifySignature})
	if err != nil {
		t.Fatal(err)
	}
	r, err := a.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tamper changes the first entry of kind with lie and re-signs it and
// every entry after it with key, so that only the content lies.
func tamper(t *testing.T, entries []*crucible.ResultEntry, kind string, lie func(map[string]any), key *sign.Keypair) []*crucible.ResultEntry {
	t.Helper()
	out := make([]*crucible.ResultEntry, 0, len(entries))
	done := false
	var prev *crucible.ResultEntry
	for _, e := range entries {
		payload := e.Payload
		if !done && e.Kind == kind {
			var p map[string]any
			if err := json.Unmarshal(payload, &p); err != nil {
				t.Fatal(err)
			}
			lie(p)
			payload, _ = json.Marshal(p)
			done = true
		}
		var v any
		json.Unmarshal(payload, &v)
		next, err := resultlog.Next(prev, e.Kind, v, key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, next)
		prev = next
	}
	return out
}

// logSource serves a log from memory.
type logSource []*crucible.ResultEntry

func (s logSource) Results(_ context.Context, after int64) ([]*crucible.ResultEntry, error) {
	var out []*crucible.ResultEntry
	for _, e := range s {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s logSource) Artifact(context.Context, string) (io.ReadCloser, error) {
	return nil, crucible.Errorf(crucible.ENOTFOUND, "no artifacts")
}

func minerIndex(net *localnet.Net, hotkey string) int {
	for i, m := range net.Miners {
		if m.Key().Address() == hotkey {
			return i
		}
	}
	return -1
}

func contains(hs []string, h string) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}
