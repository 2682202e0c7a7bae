package validator_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// The tournament harness drives the tournament lifecycle without training:
// a referee plays every tournament task the lifecycle creates, giving each
// member the result a table says (a loss, a reward, or a failure) and
// moving the task to its end through the store, as the task lifecycle
// would.

// outcome is one member's result on one task.
type outcome struct {
	loss, reward float64 // reward for grpo tasks
	failure      string
}

// play says how a miner does on a task type: by default a loss of its
// skill for loss tasks and 1−skill of reward for grpo.
type play func(hotkey string, typ crucible.TaskType, k int) outcome

func bySkill(skill map[string]float64) play {
	return func(h string, typ crucible.TaskType, _ int) outcome {
		s, ok := skill[h]
		if !ok {
			return outcome{failure: "no result uploaded before the deadline"}
		}
		return outcome{loss: s, reward: 1 - s}
	}
}

// crashStore fails one chosen write of the tournament lifecycle, before
// or after doing it, as a process killed at that moment would.
type crashStore struct {
	*sqlstore.Store
	mu     sync.Mutex
	writes int
	at     int  // the write that fails (0: none)
	after  bool // fail after the write is done
}

var errCrash = errors.New("crash")

func (c *crashStore) write(f func() error) error {
	c.mu.Lock()
	c.writes++
	n := c.writes
	c.mu.Unlock()
	if n == c.at && !c.after {
		return errCrash
	}
	err := f()
	if n == c.at && err == nil {
		return errCrash
	}
	return err
}

func (c *crashStore) UpdateTournament(ctx context.Context, t *crucible.Tournament) error {
	return c.write(func() error { return c.Store.UpdateTournament(ctx, t) })
}
func (c *crashStore) SaveMatch(ctx context.Context, m *crucible.TournamentMatch) error {
	return c.write(func() error { return c.Store.SaveMatch(ctx, m) })
}
func (c *crashStore) AddChampion(ctx context.Context, ch *crucible.Champion) error {
	return c.write(func() error { return c.Store.AddChampion(ctx, ch) })
}
func (c *crashStore) AppendResult(ctx context.Context, e *crucible.ResultEntry) error {
	return c.write(func() error { return c.Store.AppendResult(ctx, e) })
}
func (c *crashStore) CreateTask(ctx context.Context, t *crucible.Task) error {
	return c.write(func() error { return c.Store.CreateTask(ctx, t) })
}

type tourney struct {
	t     *testing.T
	store *crashStore
	v     *validator.Validator
	deps  validator.Deps
	cfg   validator.Config
	keys  map[string]*sign.Keypair // by name
	names map[string]string        // hotkey → name
	play  play
	now   time.Time
}

func newTourney(t *testing.T, miners ...string) *tourney {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlstore.Open(ctx, filepath.Join(dir, "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn := &tourney{t: t, store: &crashStore{Store: st}, keys: map[string]*sign.Keypair{}, names: map[string]string{},
		now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	var nodes []*crucible.Node
	for i, name := range miners {
		k, err := sign.FromURI("//tournament-test//" + name)
		if err != nil {
			t.Fatal(err)
		}
		tn.keys[name], tn.names[k.Address()] = k, name
		nodes = append(nodes, &crucible.Node{UID: i + 1, Hotkey: k.Address(), IP: "127.0.0.1", Port: 1000 + i})
	}
	if err := st.UpsertNodes(ctx, nodes); err != nil {
		t.Fatal(err)
	}
	tn.cfg = validator.DefaultConfig()
	tn.cfg.PublicURL = "http://validator.invalid"
	tn.deps = validator.Deps{Blobs: dirBlobs{filepath.Join(dir, "blobs")}, Models: dirModels{"tiny": dir},
		Preparer: linesPreparer{rows: 40}, Evaluator: &lossEvaluator{}, Links: linkSigner(t), Signer: validatorKey(t),
		Verify: sign.VerifySignature, Now: func() time.Time { return tn.now }}
	tn.restart()
	return tn
}

// restart builds a new Validator on the same store, as a restarted process.
func (tn *tourney) restart() {
	tn.deps.Store = tn.store
	tn.deps.Submit = func(ctx context.Context, task *crucible.Task, note string) error {
		if err := tn.v.CheckTask(ctx, task); err != nil {
			return err
		}
		return tn.store.CreateTask(ctx, task)
	}
	v, err := validator.New(tn.cfg, tn.deps)
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.v = v
}

func (tn *tourney) hotkey(name string) string { return tn.keys[name].Address() }

func (tn *tourney) name(hotkey string) string {
	if n := tn.names[hotkey]; n != "" {
		return n
	}
	return hotkey
}

func (tn *tourney) names_(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = tn.name(h)
	}
	return out
}

// settings are small tournament rules: groups of 3 above 4 entrants, the
// best of each group goes on, pairs and groups play one task, the boss
// round three (instruct, grpo, instruct).
func settings() crucible.TournamentSettings {
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

// announce stores a tournament with a fixed ID (so that brackets are
// comparable between runs).
func (tn *tourney) announce(s crucible.TournamentSettings) *crucible.Tournament {
	tn.t.Helper()
	tour := &crucible.Tournament{ID: "7b0c3e1a-5d2f-4a6b-9c8d-0e1f2a3b4c5d", Settings: s, EntriesClose: tn.now.Add(s.EntryWindow)}
	if err := tn.v.CheckTournament(context.Background(), &tour.Settings); err != nil {
		tn.t.Fatal(err)
	}
	if err := tn.store.CreateTournament(context.Background(), tour); err != nil {
		tn.t.Fatal(err)
	}
	return tour
}

// entry is a signed entry of the named miner.
func (tn *tourney) entry(name, tournamentID string, m crucible.Method, fee float64) api.EnterRequest {
	k := tn.keys[name]
	at := tn.now
	sig, _ := k.Sign(crucible.EntryMessage(tournamentID, k.Address(), m.Hash(), fee, at))
	return api.EnterRequest{Method: m, MethodHash: m.Hash(), Fee: fee, SignedAt: at, Signature: hex.EncodeToString(sig)}
}

// enter enters each named miner with a method of its name.
func (tn *tourney) enter(tournamentID string, names ...string) {
	tn.t.Helper()
	for _, n := range names {
		if _, err := tn.v.Enter(context.Background(), tn.hotkey(n), tournamentID, tn.entry(n, tournamentID, crucible.Method{Strategy: n}, 0)); err != nil {
			tn.t.Fatalf("enter %s: %v", n, err)
		}
	}
}

// seed makes the named miner the champion, with wins in a row.
func (tn *tourney) seed(name string, wins int) {
	tn.t.Helper()
	m := crucible.Method{Strategy: name}
	if err := tn.store.Store.AddChampion(context.Background(), &crucible.Champion{Hotkey: tn.hotkey(name), Method: m, MethodHash: m.Hash(), Wins: wins, Seeded: true}); err != nil {
		tn.t.Fatal(err)
	}
}

// referee plays every tournament task that has not ended: each member's
// result from play, and the task moved to its end through the store.
func (tn *tourney) referee() {
	tn.t.Helper()
	ctx := context.Background()
	st := tn.store.Store
	tasks, _, err := st.FindTasks(ctx, crucible.TaskFilter{Limit: 1000})
	if err != nil {
		tn.t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Tournament == "" || task.Status.Terminal() {
			continue
		}
		valid := 0
		for i, h := range task.Assignees {
			o := tn.play(h, task.Type, i)
			s := &crucible.Submission{TaskID: task.ID, Hotkey: h, ExpectedName: fmt.Sprintf("r%d", i)}
			if err := st.CreateSubmission(ctx, s); err != nil {
				tn.t.Fatal(err)
			}
			switch {
			case o.failure != "":
				s.Failure = o.failure
			case task.Type == crucible.TaskGRPO:
				s.Reward = &crucible.RewardResult{Score: o.reward, Reward: o.reward}
				valid++
			default:
				l := o.loss
				s.TestLoss = &l
				valid++
			}
			if err := st.UpdateSubmission(ctx, s); err != nil {
				tn.t.Fatal(err)
			}
		}
		path := []crucible.TaskStatus{crucible.StatusPreparingData, crucible.StatusLookingForNodes, crucible.StatusReady,
			crucible.StatusTraining, crucible.StatusPreevaluation, crucible.StatusEvaluating, crucible.StatusSuccess}
		if valid == 0 {
			path = append(path[:4], crucible.StatusFailure)
			task.Failure = "no valid submission"
		}
		for _, s := range path {
			task.Status = s
			if err := st.UpdateTask(ctx, task); err != nil {
				tn.t.Fatal(err)
			}
		}
	}
}

// run drives a tournament to its end: steps, the referee, the clock.
// A step that fails with errCrash restarts the validator and goes on.
func (tn *tourney) run(id string) *crucible.Tournament {
	tn.t.Helper()
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		next, err := tn.v.TournamentStep(ctx, id)
		if errors.Is(err, errCrash) {
			tn.championsAreLogged()
			tn.restart()
			continue
		}
		if err != nil {
			tn.t.Fatalf("step: %v", err)
		}
		if next.IsZero() {
			tour, err := tn.store.FindTournament(ctx, id)
			if err != nil {
				tn.t.Fatal(err)
			}
			return tour
		}
		tn.referee()
		if next.After(tn.now) {
			tn.now = next
		}
	}
	tn.t.Fatal("the tournament did not end in 500 steps")
	return nil
}

// championsAreLogged fails the test when the champions' history holds a
// champion (other than a seeded one) whose tournament the results log
// does not: what the API and the next tournament read must never run
// ahead of what auditors can check, even at a crash.
func (tn *tourney) championsAreLogged() {
	tn.t.Helper()
	ctx := context.Background()
	cs, err := tn.store.FindChampions(ctx, 1000)
	if err != nil {
		tn.t.Fatal(err)
	}
	es, err := tn.store.FindResults(ctx, 0, 0)
	if err != nil {
		tn.t.Fatal(err)
	}
	logged := map[string]bool{}
	for _, e := range es {
		var p struct {
			TournamentID string `json:"tournament_id"`
		}
		if e.Kind == resultlog.KindTournament && json.Unmarshal(e.Payload, &p) == nil {
			logged[p.TournamentID] = true
		}
	}
	for _, c := range cs {
		if !c.Seeded && !logged[c.TournamentID] {
			tn.t.Fatalf("champion %s of tournament %s is in the history but not in the results log", tn.name(c.Hotkey), c.TournamentID)
		}
	}
}

// summary is a tournament's outcome in names: its bracket, the champion
// and the history, for comparing runs.
func (tn *tourney) summary(id string) string {
	tn.t.Helper()
	ctx := context.Background()
	tour, _ := tn.store.FindTournament(ctx, id)
	ms, _ := tn.store.FindMatches(ctx, id)
	s := fmt.Sprintf("status %s winner %s challenger %s margin %v\n", tour.Status, tn.name(tour.Winner), tn.name(tour.Challenger), fmtPtr(tour.Margin))
	for _, m := range ms {
		s += fmt.Sprintf("round %d %s %d %v → %v (%s)\n", m.Round, m.Kind, m.Index, tn.names_(m.Members), tn.names_(m.Advance), m.Note)
		for _, mt := range m.Tasks {
			s += fmt.Sprintf("  %s %s winner %s (%s)\n", mt.TaskID, mt.Type, tn.name(mt.Winner), mt.Note)
		}
	}
	cs, _ := tn.store.FindChampions(ctx, 0)
	for _, c := range cs {
		s += fmt.Sprintf("champion %s wins %d margin %v tournament %q\n", tn.name(c.Hotkey), c.Wins, fmtPtr(c.Margin), c.TournamentID)
	}
	tasks, _, _ := tn.store.FindTasks(ctx, crucible.TaskFilter{Limit: 1000})
	var ids []string
	for _, t := range tasks {
		if t.Tournament == id {
			ids = append(ids, t.ID)
		}
	}
	sort.Strings(ids)
	s += fmt.Sprintf("tasks %v\n", ids)
	entries, _ := tn.store.FindResults(ctx, 0, 0)
	ts, _ := resultlog.DecodeTournaments(entries)
	s += fmt.Sprintf("log: %d tournament entries\n", len(ts))
	return s
}

func fmtPtr(p *float64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%.4f", *p)
}
