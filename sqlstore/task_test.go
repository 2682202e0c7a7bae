package sqlstore_test

import (
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

func newTask(model string) *crucible.Task {
	return &crucible.Task{Type: crucible.TaskInstruct, Model: model, Dataset: "ds.jsonl", HoursToComplete: 1.5}
}

func mustCreate(t *testing.T, s *sqlstore.Store, task *crucible.Task) *crucible.Task {
	t.Helper()
	if err := s.CreateTask(context.Background(), task); err != nil {
		t.Fatalf("create task: %v", err)
	}
	return task
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := crucible.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func TestTaskRoundTrip(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		zone := time.FixedZone("UTC+5", 5*3600)
		term := time.Date(2026, 3, 4, 5, 6, 7, 123456000, zone)
		task := &crucible.Task{
			AccountID: "acct-1", Type: crucible.TaskDPO, IsOrganic: true, Private: true,
			Model: "assets/tiny-llama", ModelParamsCount: 1 << 40, Dataset: "upload:42",
			Mapping:         &crucible.ColumnMapping{FieldPrompt: "q", FieldChosen: "good", FieldRejected: "bad", PromptFormat: "{prompt}"},
			HoursToComplete: 2.25, TrainData: "tasks/x/train.jsonl", TestData: "tasks/x/test.jsonl", TrainRows: 900, TestRows: 100,
			TrainTokens:   123456789012,
			TerminationAt: &term,
			DatasetName:   "prefs.jsonl", TestDataset: "upload:43",
			Hints: &crucible.Hints{LoRA: new(bool), LR: 2e-5, Epochs: 2, BatchSize: 16, MaxLength: 512},
		}
		mustCreate(t, s, task)
		if len(task.ID) != 36 || task.ID[14] != '4' {
			t.Errorf("ID %q is not a v4 UUID", task.ID)
		}
		if task.Status != crucible.StatusPending || task.Version != 1 || task.CreatedAt.IsZero() {
			t.Errorf("create did not fill status/version/times: %+v", task)
		}
		got, err := s.FindTask(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, task) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, task)
		}
		if got.TerminationAt.Location() != time.UTC || !got.TerminationAt.Equal(term) {
			t.Errorf("termination_at = %v, want %v in UTC", got.TerminationAt, term)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at not UTC: %v", got.CreatedAt)
		}
		// No mapping and no start time stay nil.
		plain := mustCreate(t, s, newTask("m"))
		got, err = s.FindTask(ctx, plain.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Mapping != nil || got.TrainTokens != 0 || got.StartedAt != nil {
			t.Errorf("empty optional fields came back set: %+v", got)
		}
	})
}

func TestTaskErrors(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		_, err := s.FindTask(ctx, "00000000-0000-4000-8000-000000000000")
		wantCode(t, err, crucible.ENOTFOUND)
		wantCode(t, s.CreateTask(ctx, &crucible.Task{Type: "poem", Model: "m", Dataset: "d"}), crucible.EINVALID)
		wantCode(t, s.UpdateTask(ctx, &crucible.Task{ID: "nope", Status: crucible.StatusPending, Version: 1}), crucible.ENOTFOUND)

		task := mustCreate(t, s, newTask("m"))
		// Illegal transition: pending → training.
		bad := *task
		bad.Status = crucible.StatusTraining
		wantCode(t, s.UpdateTask(ctx, &bad), crucible.ECONFLICT)
		bad.Status = "bogus"
		wantCode(t, s.UpdateTask(ctx, &bad), crucible.EINVALID)

		// Legal transition bumps the version; the stale copy then conflicts.
		stale := *task
		task.Status = crucible.StatusPreparingData
		task.Model = "changed"
		if err := s.UpdateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if task.Version != 2 {
			t.Errorf("version = %d, want 2", task.Version)
		}
		stale.Failure = "late writer"
		wantCode(t, s.UpdateTask(ctx, &stale), crucible.ECONFLICT)
		got, err := s.FindTask(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Model != "changed" || got.Failure != "" || got.Version != 2 || got.Status != crucible.StatusPreparingData {
			t.Errorf("after updates: %+v", got)
		}
		if !reflect.DeepEqual(got, task) {
			t.Errorf("update result differs from stored:\n got %+v\nwant %+v", got, task)
		}
		// The status history was recorded in order.
		evs, err := s.FindEvents(ctx, crucible.EventFilter{TaskID: task.ID, Kind: crucible.EventStatus})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ToStatus != crucible.StatusPending ||
			evs[1].FromStatus != crucible.StatusPending || evs[1].ToStatus != crucible.StatusPreparingData {
			t.Errorf("status events = %+v", evs)
		}
	})
}

func TestTaskConcurrentUpdate(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for round := 0; round < 5; round++ {
			task := mustCreate(t, s, newTask("m"))
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i := range errs {
				c := *task
				c.Status = crucible.StatusPreparingData
				if i == 1 {
					c.Status = crucible.StatusCancelled
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.UpdateTask(ctx, &c)
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch crucible.ErrorCode(err) {
				case "":
					ok++
				case crucible.ECONFLICT:
				default:
					t.Fatalf("round %d: unexpected error %v", round, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d updates won, want exactly 1 (%v)", round, ok, errs)
			}
			got, err := s.FindTask(ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != 2 {
				t.Errorf("round %d: version %d, want 2", round, got.Version)
			}
		}
	})
}

func TestFindTasksFilterAndPaging(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		sqlstore.SetClock(s, func() time.Time { clock = clock.Add(time.Second); return clock })
		var ids []string // in creation order
		for i := 0; i < 7; i++ {
			task := newTask("m")
			if i%2 == 0 {
				task.AccountID = "alice"
			}
			if i == 6 {
				task.Type, task.Mapping = crucible.TaskText, nil
			}
			mustCreate(t, s, task)
			if i < 2 {
				task.Status = crucible.StatusCancelled
				if err := s.UpdateTask(ctx, task); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, task.ID)
		}
		idsOf := func(ts []*crucible.Task) []string {
			var out []string
			for _, t := range ts {
				out = append(out, t.ID)
			}
			return out
		}
		cases := []struct {
			name  string
			f     crucible.TaskFilter
			want  []string
			total int
		}{
			{"all newest first", crucible.TaskFilter{}, []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}, 7},
			{"account", crucible.TaskFilter{AccountID: "alice"}, []string{ids[6], ids[4], ids[2], ids[0]}, 4},
			{"statuses", crucible.TaskFilter{Statuses: []crucible.TaskStatus{crucible.StatusCancelled, crucible.StatusSuccess}}, []string{ids[1], ids[0]}, 2},
			{"type", crucible.TaskFilter{Type: crucible.TaskText}, []string{ids[6]}, 1},
			{"page 1", crucible.TaskFilter{Limit: 3}, []string{ids[6], ids[5], ids[4]}, 7},
			{"page 3", crucible.TaskFilter{Limit: 3, Offset: 6}, []string{ids[0]}, 7},
			{"offset only", crucible.TaskFilter{Offset: 5}, []string{ids[1], ids[0]}, 7},
			{"combined", crucible.TaskFilter{AccountID: "alice", Statuses: []crucible.TaskStatus{crucible.StatusPending}, Limit: 1, Offset: 1}, []string{ids[4]}, 3},
			{"none", crucible.TaskFilter{AccountID: "bob"}, nil, 0},
		}
		for _, c := range cases {
			got, total, err := s.FindTasks(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !reflect.DeepEqual(idsOf(got), c.want) || total != c.total {
				t.Errorf("%s: got %v (total %d), want %v (total %d)", c.name, idsOf(got), total, c.want, c.total)
			}
		}
		_, _, err := s.FindTasks(ctx, crucible.TaskFilter{Limit: -1})
		wantCode(t, err, crucible.EINVALID)
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			u := b.url(t)
			s := openStore(t, u)
			v, err := s.SchemaVersion(ctx)
			if err != nil || v < 1 {
				t.Fatalf("schema version %d, %v", v, err)
			}
			task := mustCreate(t, s, newTask("m"))
			// Two more opens at once: both must succeed and apply nothing twice.
			var wg sync.WaitGroup
			stores := make([]*sqlstore.Store, 2)
			errs := make([]error, 2)
			for i := range stores {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stores[i], errs[i] = sqlstore.Open(ctx, u)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("reopen %d: %v", i, err)
				}
				defer stores[i].Close()
				v2, err := stores[i].SchemaVersion(ctx)
				if err != nil || v2 != v {
					t.Errorf("reopen %d: schema version %d (%v), want %d", i, v2, err, v)
				}
				if _, err := stores[i].FindTask(ctx, task.ID); err != nil {
					t.Errorf("reopen %d lost data: %v", i, err)
				}
			}
			var n int
			if err := s.DB().QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil || n != v {
				t.Errorf("schema_migrations has %d rows (%v), want %d", n, err, v)
			}
		})
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, u := range []string{"mysql://x", "", "sqlite://"} {
		if _, err := sqlstore.Open(context.Background(), u); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", u, err)
		}
	}
}

// Two transactions that update the same two tasks in opposite orders must
// not deadlock: one wins, the other sees a version conflict.
func TestCrossUpdatesDoNotDeadlock(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for round := 0; round < 3; round++ {
			a, b := mustCreate(t, s, newTask("a")), mustCreate(t, s, newTask("b"))
			advance := func(tx *sqlstore.Store, id string) error {
				task, err := tx.FindTask(ctx, id)
				if err != nil {
					return err
				}
				task.TimesDelayed++
				return tx.UpdateTask(ctx, task)
			}
			errs := make([]error, 2)
			var wg sync.WaitGroup
			for i, order := range [][2]string{{a.ID, b.ID}, {b.ID, a.ID}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = s.WithTx(ctx, func(tx *sqlstore.Store) error {
						if err := advance(tx, order[0]); err != nil {
							return err
						}
						return advance(tx, order[1])
					})
				}()
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
					continue
				}
				if crucible.ErrorCode(err) != crucible.ECONFLICT || strings.Contains(err.Error(), "deadlock") {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won == 0 {
				t.Fatalf("round %d: neither transaction committed: %v", round, errs)
			}
			got, err := s.FindTask(ctx, a.ID)
			if err != nil || got.TimesDelayed != won {
				t.Fatalf("round %d: times_delayed %d after %d winners (%v)", round, got.TimesDelayed, won, err)
			}
		}
	})
}
