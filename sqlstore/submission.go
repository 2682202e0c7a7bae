package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/crucible-net/crucible/crucible"
)

const submissionColumns = `task_id, hotkey, expected_name, result_key, result_sha256, is_adapter, uploaded_at,
	test_loss, quality_score, reason, created_at, started_at, failure, reward`

// CreateSubmission records that a miner accepted a task and fills in
// CreatedAt. Returns EINVALID without a task or hotkey, ENOTFOUND when the
// task does not exist and ECONFLICT when the miner already has a submission.
func (s *Store) CreateSubmission(ctx context.Context, sub *crucible.Submission) error {
	if sub.TaskID == "" || sub.Hotkey == "" {
		return crucible.Errorf(crucible.EINVALID, "submission needs a task_id and a hotkey")
	}
	c := *sub
	c.CreatedAt = norm(s.now())
	c.UploadedAt, c.StartedAt = normPtr(c.UploadedAt), normPtr(c.StartedAt)
	reward, err := rewardArg(c.Reward)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, "INSERT INTO submissions ("+submissionColumns+") VALUES ("+placeholders(14)+")",
		c.TaskID, c.Hotkey, c.ExpectedName, c.ResultKey, c.ResultSHA256, c.IsAdapter, s.timePtrArg(c.UploadedAt),
		c.TestLoss, c.QualityScore, c.Reason, s.timeArg(c.CreatedAt), s.timePtrArg(c.StartedAt), c.Failure, reward)
	switch constraintOf(err) {
	case foreignKeyViolation:
		return crucible.Errorf(crucible.ENOTFOUND, "task %q not found", sub.TaskID)
	case uniqueViolation:
		return crucible.Errorf(crucible.ECONFLICT, "miner %s already has a submission for task %s", sub.Hotkey, sub.TaskID)
	}
	if err != nil {
		return mapErr(err, "create submission")
	}
	*sub = c
	return nil
}

func scanSubmission(r rowScanner) (*crucible.Submission, error) {
	var (
		sub               crucible.Submission
		adapter           boolScan
		uploaded, created timeScan
		started           timeScan
		loss, score       sql.NullFloat64
		reward            jsonScan
	)
	if err := r.Scan(&sub.TaskID, &sub.Hotkey, &sub.ExpectedName, &sub.ResultKey, &sub.ResultSHA256, &adapter,
		&uploaded, &loss, &score, &sub.Reason, &created, &started, &sub.Failure, &reward); err != nil {
		return nil, err
	}
	if reward.b != nil {
		sub.Reward = &crucible.RewardResult{}
		if err := reward.decode(sub.Reward, "submission reward"); err != nil {
			return nil, err
		}
	}
	sub.IsAdapter, sub.UploadedAt, sub.CreatedAt = bool(adapter), uploaded.ptr(), created.t
	sub.StartedAt = started.ptr()
	if loss.Valid {
		sub.TestLoss = &loss.Float64
	}
	if score.Valid {
		sub.QualityScore = &score.Float64
	}
	return &sub, nil
}

// FindSubmission returns one miner's submission. Returns ENOTFOUND.
func (s *Store) FindSubmission(ctx context.Context, taskID, hotkey string) (*crucible.Submission, error) {
	sub, err := scanSubmission(s.queryRow(ctx, "SELECT "+submissionColumns+
		" FROM submissions WHERE task_id = ? AND hotkey = ?", taskID, hotkey))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "no submission by %s for task %s", hotkey, taskID)
	}
	if err != nil {
		return nil, mapErr(err, "find submission")
	}
	return sub, nil
}

// FindSubmissions returns every submission for a task, oldest first.
func (s *Store) FindSubmissions(ctx context.Context, taskID string) ([]*crucible.Submission, error) {
	rows, err := s.query(ctx, "SELECT "+submissionColumns+
		" FROM submissions WHERE task_id = ? ORDER BY created_at, hotkey", taskID)
	if err != nil {
		return nil, mapErr(err, "find submissions")
	}
	defer rows.Close()
	var out []*crucible.Submission
	for rows.Next() {
		sub, err := scanSubmission(rows)
		if err != nil {
			return nil, mapErr(err, "find submissions")
		}
		out = append(out, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find submissions")
	}
	return out, nil
}

// UpdateSubmission saves every field of sub but its keys and CreatedAt.
// Returns ENOTFOUND.
func (s *Store) UpdateSubmission(ctx context.Context, sub *crucible.Submission) error {
	sub.UploadedAt, sub.StartedAt = normPtr(sub.UploadedAt), normPtr(sub.StartedAt)
	reward, err := rewardArg(sub.Reward)
	if err != nil {
		return err
	}
	// An upload and a start, once recorded, are kept when the writer's
	// copy does not have them: the validator's start step and a miner's
	// upload may each write a copy read before the other's write (a fast
	// miner uploads while the starts are still going out), and the upload
	// must not be lost.
	res, err := s.exec(ctx, `UPDATE submissions SET expected_name = ?,
		result_key = CASE WHEN ? = '' THEN result_key ELSE ? END,
		result_sha256 = CASE WHEN ? = '' THEN result_sha256 ELSE ? END,
		is_adapter = ?, uploaded_at = COALESCE(?, uploaded_at), test_loss = ?, quality_score = ?, reason = ?,
		started_at = COALESCE(?, started_at), failure = ?, reward = ?
		WHERE task_id = ? AND hotkey = ?`,
		sub.ExpectedName, sub.ResultKey, sub.ResultKey, sub.ResultSHA256, sub.ResultSHA256, sub.IsAdapter, s.timePtrArg(sub.UploadedAt),
		sub.TestLoss, sub.QualityScore, sub.Reason, s.timePtrArg(sub.StartedAt), sub.Failure, reward, sub.TaskID, sub.Hotkey)
	if err != nil {
		return mapErr(err, "update submission")
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err, "update submission")
	} else if n == 0 {
		return crucible.Errorf(crucible.ENOTFOUND, "no submission by %s for task %s", sub.Hotkey, sub.TaskID)
	}
	return nil
}

// rewardArg encodes a grpo evaluation for its JSON column (NULL when nil).
func rewardArg(r *crucible.RewardResult) (any, error) {
	if r == nil {
		return nil, nil
	}
	v, err := jsonArg(r)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "submission reward")
	}
	return v, nil
}
