package validator

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
)

// trainingKey is where a submission's training summary is kept: under the
// task, so that it is public (GET /v1/results/artifacts/...) once the task
// is over, as the results are.
func trainingKey(taskID, hotkey string) string {
	return "tasks/" + taskID + "/training/" + hotkey + ".json"
}

// keepTraining reads the training.json a submission carries (unpacked in
// dir), checks it and keeps its summary for the results log. A missing
// file is no fault; a bad one is reported on the task and not published:
// either way the submission is evaluated as it is.
func (v *Validator) keepTraining(ctx context.Context, t *crucible.Task, s *crucible.Submission, dir string) error {
	path := filepath.Join(dir, crucible.TrainingFile)
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	sum, err := readTrainingFile(path, st.Size())
	if err != nil {
		v.event(ctx, t.ID, crucible.EventProgress, s.Hotkey, "training.json is not published: "+errText(err), nil)
		return nil
	}
	b, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	_, _, err = v.Blobs.Put(ctx, trainingKey(t.ID, s.Hotkey), bytes.NewReader(b))
	return err
}

func readTrainingFile(path string, size int64) (*crucible.TrainingSummary, error) {
	if size > crucible.MaxTrainingFile {
		return nil, crucible.Errorf(crucible.EINVALID, "%d bytes, more than %d", size, crucible.MaxTrainingFile)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return crucible.ParseTrainingFile(b)
}

// trainingOf returns a submission's kept training summary; nil when it
// published none.
func (v *Validator) trainingOf(ctx context.Context, taskID, hotkey string) (*crucible.TrainingSummary, error) {
	rc, err := v.Blobs.Get(ctx, trainingKey(taskID, hotkey))
	if crucible.ErrorCode(err) == crucible.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, crucible.MaxTrainingFile+1))
	if err != nil {
		return nil, err
	}
	var sum crucible.TrainingSummary
	if err := json.Unmarshal(b, &sum); err != nil || sum.Validate() != nil {
		return nil, nil // not one this validator wrote: leave it out
	}
	return &sum, nil
}
