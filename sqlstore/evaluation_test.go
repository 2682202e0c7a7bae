package sqlstore_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

func TestEvaluationRecord(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		task := mustCreate(t, s, newTask("m"))
		if _, err := s.FindEvaluation(ctx, task.ID); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Fatalf("no record yet: %v", err)
		}
		loss := 6.25
		at := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.FixedZone("x", 3600))
		e := &crucible.Evaluation{TaskID: task.ID,
			SplitMapping: &crucible.ColumnMapping{FieldInstruction: "instruct", FieldOutput: "output"},
			Honeypot:     &crucible.Honeypot{PromptMarker: "[ab]", AnswerMarker: "cd", AnswerShare: 0.25, SwapDPO: true},
			BaseLoss:     &loss, ScoredAt: &at,
			Evaluator:   &crucible.EvaluatorInfo{Kind: crucible.EvaluatorTorch, Version: "crucible_torch 1, torch 2.5.1, cpu, compact"},
			TrainTokens: "tasks/x/train.tokens.safetensors", TestTokens: "tasks/x/test.tokens.safetensors"}
		if err := s.SaveEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.Version != crucible.EvaluationVersion || e.UpdatedAt.IsZero() {
			t.Errorf("save did not fill version and time: %+v", e)
		}
		got, err := s.FindEvaluation(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
		}
		// Saving again replaces the record; optional fields may be cleared.
		e.Honeypot, e.BaseLoss, e.Evaluator = nil, nil, nil
		if err := s.SaveEvaluation(ctx, e); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.FindEvaluation(ctx, task.ID); got.Honeypot != nil || got.BaseLoss != nil || got.Evaluator != nil || got.SplitMapping == nil || got.TestTokens == "" {
			t.Errorf("replaced record: %+v", got)
		}
		if err := s.SaveEvaluation(ctx, &crucible.Evaluation{TaskID: "no-such-task"}); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("record for an unknown task: %v", err)
		}

		// Fingerprints, one per submission, replaced on save.
		if err := s.SaveFingerprint(ctx, task.ID, "5A", []float32{1, -0.5, 3e-8}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFingerprint(ctx, task.ID, "5B", []float32{2}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveFingerprint(ctx, task.ID, "5B", []float32{4, 5}); err != nil {
			t.Fatal(err)
		}
		fps, err := s.FindFingerprints(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]float32{"5A": {1, -0.5, 3e-8}, "5B": {4, 5}}
		if !reflect.DeepEqual(fps, want) {
			t.Errorf("fingerprints %v, want %v", fps, want)
		}
		if err := s.SaveFingerprint(ctx, task.ID, "5C", nil); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("empty fingerprint: %v", err)
		}
		if err := s.SaveFingerprint(ctx, "no-such-task", "5C", []float32{1}); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("fingerprint for an unknown task: %v", err)
		}
		if fps, err := s.FindFingerprints(ctx, "no-such-task"); err != nil || len(fps) != 0 {
			t.Errorf("fingerprints of an unknown task: %v %v", fps, err)
		}
	})
}

// TestEvaluationMigration checks that migration 5 carries a task's untyped
// extra column over into the evaluation record, the fingerprints and the
// train token count.
func TestEvaluationMigration(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			u := b.url(t)
			old, err := sqlstore.OpenAt(ctx, u, 4)
			if err != nil {
				t.Fatal(err)
			}
			// Rows as the schema of version 4 held them.
			ins := "INSERT INTO tasks (id, type, status, model, dataset, extra, created_at, updated_at) VALUES (?, 'instruct', 'pending', 'm', 'd', ?, '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"
			if old.Dialect() == sqlstore.Postgres {
				ins = "INSERT INTO tasks (id, type, status, model, dataset, extra, created_at, updated_at) VALUES ($1, 'instruct', 'pending', 'm', 'd', $2::jsonb, now(), now())"
			}
			task, plain := &crucible.Task{ID: "task-with-extra"}, &crucible.Task{ID: "task-without"}
			for _, id := range []string{task.ID, plain.ID} {
				if _, err := old.DB().ExecContext(ctx, ins, id, nil); err != nil {
					t.Fatal(err)
				}
			}
			extra := `{"split_mapping":{"field_instruction":"instruct","field_output":"output"},` +
				`"honeypot":{"prompt_marker":"[1a2b]","answer_marker":"3c4d","answer_share":0.25,"swap_dpo":false},` +
				`"base_loss":6.5,"train_tokens":12345,"scored_at":"2026-02-03T04:05:06.789Z",` +
				`"fingerprints":{"5Alice":[0.5,-1],"5Bob":[2,3]}}`
			q := "UPDATE tasks SET extra = ? WHERE id = ?"
			if old.Dialect() == sqlstore.Postgres {
				q = "UPDATE tasks SET extra = $1::jsonb WHERE id = $2"
			}
			if _, err := old.DB().ExecContext(ctx, q, extra, task.ID); err != nil {
				t.Fatal(err)
			}
			old.Close()

			s := openStore(t, u)
			got, err := s.FindTask(ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.TrainTokens != 12345 {
				t.Errorf("train tokens %d", got.TrainTokens)
			}
			e, err := s.FindEvaluation(ctx, task.ID)
			if err != nil {
				t.Fatal(err)
			}
			wantAt := time.Date(2026, 2, 3, 4, 5, 6, 789000000, time.UTC)
			if e.Version != 1 || e.SplitMapping == nil || e.SplitMapping.FieldInstruction != "instruct" ||
				e.Honeypot == nil || e.Honeypot.PromptMarker != "[1a2b]" || e.Honeypot.AnswerShare != 0.25 ||
				e.BaseLoss == nil || *e.BaseLoss != 6.5 || e.ScoredAt == nil || !e.ScoredAt.Equal(wantAt) {
				t.Errorf("migrated record %+v", e)
			}
			fps, err := s.FindFingerprints(ctx, task.ID)
			if err != nil || !reflect.DeepEqual(fps, map[string][]float32{"5Alice": {0.5, -1}, "5Bob": {2, 3}}) {
				t.Errorf("migrated fingerprints %v %v", fps, err)
			}
			if _, err := s.FindEvaluation(ctx, plain.ID); crucible.ErrorCode(err) != crucible.ENOTFOUND {
				t.Errorf("a task without extra got a record: %v", err)
			}
		})
	}
}
