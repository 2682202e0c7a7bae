package sqlstore_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

func fp(v float64) *float64 { return &v }

func TestSubmissions(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		task := mustCreate(t, s, newTask("m"))
		wantCode(t, s.CreateSubmission(ctx, &crucible.Submission{TaskID: "missing", Hotkey: "5A"}), crucible.ENOTFOUND)
		wantCode(t, s.CreateSubmission(ctx, &crucible.Submission{TaskID: task.ID}), crucible.EINVALID)
		a := &crucible.Submission{TaskID: task.ID, Hotkey: "5Alice", ExpectedName: "r-1"}
		b := &crucible.Submission{TaskID: task.ID, Hotkey: "5Bob", ExpectedName: "r-2", IsAdapter: true}
		for _, sub := range []*crucible.Submission{a, b} {
			if err := s.CreateSubmission(ctx, sub); err != nil {
				t.Fatal(err)
			}
		}
		wantCode(t, s.CreateSubmission(ctx, &crucible.Submission{TaskID: task.ID, Hotkey: "5Alice"}), crucible.ECONFLICT)

		up := time.Date(2026, 2, 3, 4, 5, 6, 789000, time.Local)
		a.ResultKey, a.ResultSHA256, a.UploadedAt = "results/a", "abc123", &up
		a.TestLoss, a.QualityScore, a.Reason = fp(1.25), fp(3), "best"
		if err := s.UpdateSubmission(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSubmission(ctx, task.ID, "5Alice")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, a) || got.UploadedAt.Location() != time.UTC {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, a)
		}
		all, err := s.FindSubmissions(ctx, task.ID)
		if err != nil || len(all) != 2 || all[1].TestLoss != nil || !all[1].IsAdapter {
			t.Fatalf("FindSubmissions = %+v, %v", all, err)
		}
		_, err = s.FindSubmission(ctx, task.ID, "5Carol")
		wantCode(t, err, crucible.ENOTFOUND)
		wantCode(t, s.UpdateSubmission(ctx, &crucible.Submission{TaskID: task.ID, Hotkey: "5Carol"}), crucible.ENOTFOUND)
	})
}

func TestEventsAndOffers(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		t1 := mustCreate(t, s, newTask("m"))
		t2 := mustCreate(t, s, newTask("m"))
		wantCode(t, s.AppendEvent(ctx, &crucible.TaskEvent{TaskID: "missing", Kind: crucible.EventLog}), crucible.ENOTFOUND)
		wantCode(t, s.AppendEvent(ctx, &crucible.TaskEvent{TaskID: t1.ID}), crucible.EINVALID)
		for i := 0; i < 3; i++ {
			e := &crucible.TaskEvent{TaskID: t1.ID, Kind: crucible.EventProgress, Hotkey: "5M",
				Message: "step", Data: map[string]any{"step": float64(i), "loss": 2.5 - float64(i)}}
			if err := s.AppendEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.ID == 0 || e.CreatedAt.IsZero() {
				t.Fatalf("event not filled in: %+v", e)
			}
		}
		all, err := s.FindEvents(ctx, crucible.EventFilter{})
		if err != nil || len(all) != 5 { // two "created" status events + three progress lines
			t.Fatalf("all events: %d, %v", len(all), err)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID {
				t.Fatalf("events out of order: %d after %d", all[i].ID, all[i-1].ID)
			}
		}
		// Following a stream: everything after the second event, two at a time.
		page, err := s.FindEvents(ctx, crucible.EventFilter{AfterID: all[1].ID, Limit: 2})
		if err != nil || len(page) != 2 || page[0].ID != all[2].ID || page[1].ID != all[3].ID {
			t.Fatalf("page = %+v, %v", page, err)
		}
		prog, err := s.FindEvents(ctx, crucible.EventFilter{TaskID: t1.ID, Kind: crucible.EventProgress})
		if err != nil || len(prog) != 3 || prog[2].Data["step"] != float64(2) || prog[2].Hotkey != "5M" {
			t.Fatalf("progress = %+v, %v", prog, err)
		}
		other, err := s.FindEvents(ctx, crucible.EventFilter{TaskID: t2.ID})
		if err != nil || len(other) != 1 || other[0].ToStatus != crucible.StatusPending {
			t.Fatalf("t2 events = %+v, %v", other, err)
		}

		wantCode(t, s.AddOfferResponse(ctx, &crucible.OfferResponse{TaskID: "missing", Hotkey: "5A"}), crucible.ENOTFOUND)
		for _, r := range []*crucible.OfferResponse{
			{TaskID: t1.ID, Hotkey: "5A", Accepted: true, Message: "yes"},
			{TaskID: t1.ID, Hotkey: "5B", Message: "timeout: no answer in 3s"},
		} {
			if err := s.AddOfferResponse(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := s.FindOfferResponses(ctx, t1.ID)
		if err != nil || len(rs) != 2 || !rs[0].Accepted || rs[1].Accepted || rs[1].Message != "timeout: no answer in 3s" {
			t.Fatalf("offer responses = %+v, %v", rs, err)
		}
	})
}

func TestNodesAndScores(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		nodes := []*crucible.Node{
			{UID: 2, Hotkey: "5B", Coldkey: "5Cb", IP: "10.0.0.2", Port: 8091, Stake: 12.5, Incentive: 0.25, LastUpdate: 99},
			{UID: 1, Hotkey: "5A", Coldkey: "5Ca", IP: "::1", Port: 8092, Validator: true, VTrust: 0.9, Dividends: 0.1, Consensus: 0.2, Emission: 0.3, Trust: 0.4},
		}
		if err := s.UpsertNodes(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindNodes(ctx)
		if err != nil || len(got) != 2 || !reflect.DeepEqual(got[0], nodes[1]) || !reflect.DeepEqual(got[1], nodes[0]) {
			t.Fatalf("FindNodes = %+v, %v", got, err)
		}
		// Replacing drops nodes no longer listed.
		if err := s.UpsertNodes(ctx, nodes[:1]); err != nil {
			t.Fatal(err)
		}
		_, err = s.FindNode(ctx, "5A")
		wantCode(t, err, crucible.ENOTFOUND)
		n, err := s.FindNode(ctx, "5B")
		if err != nil || n.Addr() != "10.0.0.2:8091" {
			t.Fatalf("FindNode = %+v, %v", n, err)
		}
		wantCode(t, s.UpsertNodes(ctx, []*crucible.Node{{Hotkey: "x"}, {Hotkey: "x"}}), crucible.EINVALID)

		task := mustCreate(t, s, newTask("m"))
		old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		scores := []*crucible.Score{
			{TaskID: task.ID, Hotkey: "5A", TaskType: crucible.TaskInstruct, QualityScore: 3, Work: 1.5, TestLoss: fp(0.5), SpecVersion: "v1"},
			{TaskID: task.ID, Hotkey: "5B", TaskType: crucible.TaskInstruct, IsOrganic: true, QualityScore: -1, SpecVersion: "v1"},
		}
		if err := s.AddScores(ctx, scores); err != nil {
			t.Fatal(err)
		}
		task2 := mustCreate(t, s, newTask("m"))
		if err := s.AddScores(ctx, []*crucible.Score{{TaskID: task2.ID, Hotkey: "5A", QualityScore: 1, CreatedAt: old}}); err != nil {
			t.Fatal(err)
		}
		// A duplicate rolls the whole batch back.
		dup := []*crucible.Score{{TaskID: task2.ID, Hotkey: "5Z", QualityScore: 1}, {TaskID: task.ID, Hotkey: "5A", QualityScore: 1}}
		wantCode(t, s.AddScores(ctx, dup), crucible.ECONFLICT)
		wantCode(t, s.AddScores(ctx, []*crucible.Score{{TaskID: "missing", Hotkey: "5A"}}), crucible.ENOTFOUND)
		recent, err := s.FindScoresSince(ctx, old.Add(time.Hour))
		if err != nil || len(recent) != 2 || !reflect.DeepEqual(recent[0], scores[0]) || !reflect.DeepEqual(recent[1], scores[1]) {
			t.Fatalf("FindScoresSince = %+v, %v", recent, err)
		}
		all, err := s.FindScoresSince(ctx, old)
		if err != nil || len(all) != 3 {
			t.Fatalf("all scores = %d, %v", len(all), err)
		}
	})
}

func TestAccountsAndKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		wantCode(t, s.CreateAccount(ctx, &crucible.Account{}), crucible.EINVALID)
		a := &crucible.Account{Name: "alice"}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateAccount(ctx, &crucible.Account{ID: a.ID, Name: "again"}), crucible.ECONFLICT)
		a.Admin, a.Name = true, "Alice"
		if err := s.UpdateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindAccount(ctx, a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("FindAccount = %+v, %v; want %+v", got, err, a)
		}
		wantCode(t, s.UpdateAccount(ctx, &crucible.Account{ID: "nope", Name: "x"}), crucible.ENOTFOUND)
		accts, err := s.FindAccounts(ctx)
		if err != nil || len(accts) != 1 {
			t.Fatalf("FindAccounts = %v, %v", accts, err)
		}

		secret := "crk_0123456789abcdef"
		k := &crucible.APIKey{AccountID: a.ID, Name: "laptop", Prefix: secret[:8], Hash: crucible.HashAPIKey(secret)}
		wantCode(t, s.CreateAPIKey(ctx, &crucible.APIKey{AccountID: a.ID, Hash: secret}), crucible.EINVALID)
		wantCode(t, s.CreateAPIKey(ctx, &crucible.APIKey{AccountID: "nope", Hash: k.Hash}), crucible.ENOTFOUND)
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		wantCode(t, s.CreateAPIKey(ctx, &crucible.APIKey{AccountID: a.ID, Hash: k.Hash}), crucible.ECONFLICT)
		clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		sqlstore.SetClock(s, func() time.Time { return clock })
		found, err := s.FindAPIKeyByHash(ctx, crucible.HashAPIKey(secret))
		if err != nil || !found.LastUsedAt.Equal(clock) {
			t.Fatalf("first use: %+v, %v", found, err)
		}
		clock = clock.Add(30 * time.Second) // within the resolution: not rewritten
		if again, err := s.FindAPIKeyByHash(ctx, k.Hash); err != nil || !again.LastUsedAt.Equal(clock.Add(-30*time.Second)) {
			t.Fatalf("use 30s later: %+v, %v", again, err)
		}
		clock = clock.Add(time.Minute)
		if again, err := s.FindAPIKeyByHash(ctx, k.Hash); err != nil || !again.LastUsedAt.Equal(clock) {
			t.Fatalf("use 90s later: %+v, %v", again, err)
		}
		keys, _ := s.FindAPIKeys(ctx, a.ID)
		if len(keys) != 1 || !keys[0].LastUsedAt.Equal(clock) {
			t.Fatalf("stored last use: %+v", keys)
		}
		found, err = s.FindAPIKeyByHash(ctx, crucible.HashAPIKey(secret))
		if err != nil || found.ID != k.ID || found.Revoked() || found.LastUsedAt == nil || found.Hash != k.Hash {
			t.Fatalf("FindAPIKeyByHash = %+v, %v", found, err)
		}
		_, err = s.FindAPIKeyByHash(ctx, crucible.HashAPIKey("wrong"))
		wantCode(t, err, crucible.ENOTFOUND)
		if err := s.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		first, _ := s.FindAPIKeyByHash(ctx, k.Hash)
		clock = clock.Add(time.Hour) // a second revocation must keep the first time
		if err := s.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		keys, err = s.FindAPIKeys(ctx, a.ID)
		if err != nil || len(keys) != 1 || !keys[0].Revoked() || !keys[0].RevokedAt.Equal(*first.RevokedAt) {
			t.Fatalf("FindAPIKeys = %+v, %v", keys, err)
		}
		wantCode(t, s.RevokeAPIKey(ctx, "nope"), crucible.ENOTFOUND)
	})
}

func TestResultsLog(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		_, err := s.LastResult(ctx)
		wantCode(t, err, crucible.ENOTFOUND)
		// Payload bytes must survive exactly (the hash is over them).
		payload := []byte(`{"z":1,  "a":[2,1],"task":"t"}`)
		e1 := &crucible.ResultEntry{Seq: 1, Hash: "h1", Kind: "task_result", Payload: payload, Signer: "5V", Signature: "sig1"}
		if err := s.AppendResult(ctx, e1); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name string
			e    crucible.ResultEntry
			code string
		}{
			{"gap", crucible.ResultEntry{Seq: 3, PrevHash: "h1", Hash: "h3", Payload: []byte(`{}`)}, crucible.ECONFLICT},
			{"fork", crucible.ResultEntry{Seq: 2, PrevHash: "other", Hash: "h2", Payload: []byte(`{}`)}, crucible.ECONFLICT},
			{"replay", crucible.ResultEntry{Seq: 1, Hash: "h1b", Payload: []byte(`{}`)}, crucible.ECONFLICT},
			{"not json", crucible.ResultEntry{Seq: 2, PrevHash: "h1", Hash: "h2", Payload: []byte(`{`)}, crucible.EINVALID},
			{"not utf-8", crucible.ResultEntry{Seq: 2, PrevHash: "h1", Hash: "h2", Payload: []byte("\"\xff\"")}, crucible.EINVALID},
			{"no hash", crucible.ResultEntry{Seq: 2, PrevHash: "h1", Payload: []byte(`{}`)}, crucible.EINVALID},
			{"hash reused", crucible.ResultEntry{Seq: 2, PrevHash: "h1", Hash: "h1", Payload: []byte(`{}`)}, crucible.ECONFLICT},
		}
		for _, c := range cases {
			if got := crucible.ErrorCode(s.AppendResult(ctx, &c.e)); got != c.code {
				t.Errorf("%s: code %q, want %q", c.name, got, c.code)
			}
		}
		e2 := &crucible.ResultEntry{Seq: 2, PrevHash: "h1", Hash: "h2", Kind: "weights", Payload: []byte(`[]`)}
		if err := s.AppendResult(ctx, e2); err != nil {
			t.Fatal(err)
		}
		last, err := s.LastResult(ctx)
		if err != nil || !reflect.DeepEqual(last, e2) {
			t.Fatalf("LastResult = %+v, %v", last, err)
		}
		all, err := s.FindResults(ctx, 0, 0)
		if err != nil || len(all) != 2 || !reflect.DeepEqual(all[0], e1) || string(all[0].Payload) != string(payload) {
			t.Fatalf("FindResults = %+v, %v", all, err)
		}
		after, err := s.FindResults(ctx, 1, 10)
		if err != nil || len(after) != 1 || after[0].Seq != 2 {
			t.Fatalf("FindResults after 1 = %+v, %v", after, err)
		}
	})
}

func TestWeightsHistory(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		wantCode(t, s.AddWeights(ctx, &crucible.WeightsRecord{}), crucible.EINVALID)
		for i := 1; i <= 3; i++ {
			w := &crucible.WeightsRecord{Netuid: 56, Weights: map[string]float64{"5A": 0.25 * float64(i), "5B": 1 - 0.25*float64(i)}, Block: int64(100 * i), Note: "v1"}
			if err := s.AddWeights(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.FindWeights(ctx, 2)
		if err != nil || len(got) != 2 || got[0].Block != 300 || got[1].Weights["5A"] != 0.5 || got[0].Netuid != 56 {
			t.Fatalf("FindWeights = %+v, %v", got, err)
		}
	})
}

func TestWithTx(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		boom := errors.New("boom")
		var id string
		err := s.WithTx(ctx, func(tx *sqlstore.Store) error {
			if tx.Tx() == nil {
				t.Error("Tx() is nil inside WithTx")
			}
			task := newTask("m")
			if err := tx.CreateTask(ctx, task); err != nil {
				return err
			}
			id = task.ID
			task.Status = crucible.StatusPreparingData
			if err := tx.UpdateTask(ctx, task); err != nil { // nested transaction joins the outer one
				return err
			}
			if _, err := tx.FindTask(ctx, id); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		_, err = s.FindTask(ctx, id)
		wantCode(t, err, crucible.ENOTFOUND)
		evs, _ := s.FindEvents(ctx, crucible.EventFilter{})
		if len(evs) != 0 {
			t.Errorf("rolled-back transaction left %d events", len(evs))
		}
		err = s.WithTx(ctx, func(tx *sqlstore.Store) error { return tx.CreateTask(ctx, newTask("kept")) })
		if err != nil {
			t.Fatal(err)
		}
		ts, n, err := s.FindTasks(ctx, crucible.TaskFilter{})
		if err != nil || n != 1 || ts[0].Model != "kept" {
			t.Fatalf("after commit: %v %d %v", ts, n, err)
		}
		if s.Tx() != nil {
			t.Error("Tx() outside WithTx is not nil")
		}
	})
}

func TestAPIKeyRateLimit(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		a := &crucible.Account{Name: "acme"}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		k := &crucible.APIKey{AccountID: a.ID, Hash: crucible.HashAPIKey("secret-1"), RateLimit: 42}
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindAPIKeyByHash(ctx, k.Hash)
		if err != nil || got.RateLimit != 42 {
			t.Fatalf("FindAPIKeyByHash = %+v, %v", got, err)
		}
		bad := &crucible.APIKey{AccountID: a.ID, Hash: crucible.HashAPIKey("secret-2"), RateLimit: -1}
		wantCode(t, s.CreateAPIKey(ctx, bad), crucible.EINVALID)
	})
}

func TestChainState(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		if b, err := s.LoadChainState(ctx); err != nil || b != nil {
			t.Fatalf("empty store: %q, %v", b, err)
		}
		for _, st := range []string{`{"version":1,"block":5}`, `{"version":1,"block":6}`} {
			if err := s.SaveChainState(ctx, []byte(st)); err != nil {
				t.Fatal(err)
			}
			if b, err := s.LoadChainState(ctx); err != nil || string(b) != st {
				t.Fatalf("LoadChainState = %q, %v; want %q", b, err, st)
			}
		}
	})
}

// TestCountNodes checks the one-query counts against crucible.Node's own
// rule, on a permit with and without dividends, a miner and an empty
// metagraph.
func TestCountNodes(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		if v, m, err := s.CountNodes(ctx); err != nil || v != 0 || m != 0 {
			t.Fatalf("empty metagraph: %d validators, %d miners, %v", v, m, err)
		}
		nodes := []*crucible.Node{
			{UID: 0, Hotkey: "5V1", Validator: true},                                 // a permit, no incentive
			{UID: 1, Hotkey: "5V2", Validator: true, Incentive: 0.2, Dividends: 0.2}, // dividends as large as its incentive
			{UID: 2, Hotkey: "5P", Validator: true, Incentive: 0.3, Dividends: 0.1},  // a permit, but mining
			{UID: 3, Hotkey: "5M", Incentive: 0.5, Dividends: 0.9},                   // no permit
		}
		if err := s.UpsertNodes(ctx, nodes); err != nil {
			t.Fatal(err)
		}
		wantV := 0
		for _, n := range nodes {
			if n.IsValidator() {
				wantV++
			}
		}
		v, m, err := s.CountNodes(ctx)
		if err != nil || v != wantV || m != len(nodes)-wantV || wantV != 2 {
			t.Errorf("CountNodes = %d validators, %d miners, %v; want %d and %d", v, m, err, wantV, len(nodes)-wantV)
		}
	})
}
