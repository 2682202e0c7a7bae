package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sqlstore"
)

// TestStaleSubmissionWriteKeepsTheUpload plays the race of a fast miner: the
// validator's start step reads a submission, the miner's upload is
// recorded, then the start step writes its copy (with the start, without
// the upload). The upload must survive, and so must a recorded start when
// the upload's copy lacks it.
func TestStaleSubmissionWriteKeepsTheUpload(t *testing.T) {
	forEachStore(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		task := mustCreate(t, s, newTask("m"))
		if err := s.CreateSubmission(ctx, &crucible.Submission{TaskID: task.ID, Hotkey: "5Fast", ExpectedName: "r-1"}); err != nil {
			t.Fatal(err)
		}
		starter, err := s.FindSubmission(ctx, task.ID, "5Fast") // the start step's copy
		if err != nil {
			t.Fatal(err)
		}
		uploader, err := s.FindSubmission(ctx, task.ID, "5Fast") // the upload's copy
		if err != nil {
			t.Fatal(err)
		}
		up := time.Now().UTC().Truncate(time.Millisecond)
		uploader.ResultKey, uploader.ResultSHA256, uploader.UploadedAt = "results/fast", "feed", &up
		if err := s.UpdateSubmission(ctx, uploader); err != nil {
			t.Fatal(err)
		}
		started := up.Add(-time.Second)
		starter.StartedAt = &started
		if err := s.UpdateSubmission(ctx, starter); err != nil {
			t.Fatal(err)
		}
		got, err := s.FindSubmission(ctx, task.ID, "5Fast")
		if err != nil {
			t.Fatal(err)
		}
		if got.UploadedAt == nil || !got.UploadedAt.Equal(up) || got.ResultKey != "results/fast" || got.ResultSHA256 != "feed" {
			t.Errorf("the upload was lost to a stale write: %+v", got)
		}
		if got.StartedAt == nil || !got.StartedAt.Equal(started) {
			t.Errorf("the start was not recorded: %+v", got)
		}
		uploader.ResultKey = "results/fast" // a later write of the upload's copy keeps the start
		if err := s.UpdateSubmission(ctx, uploader); err != nil {
			t.Fatal(err)
		}
		if got, err = s.FindSubmission(ctx, task.ID, "5Fast"); err != nil || got.StartedAt == nil {
			t.Errorf("the start was lost to a stale write: %+v, %v", got, err)
		}
	})
}
