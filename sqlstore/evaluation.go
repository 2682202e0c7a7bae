package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
)

// FindEvaluation returns a task's evaluation record. Returns ENOTFOUND when
// none was saved, EINTERNAL for a record of a later format version.
func (s *Store) FindEvaluation(ctx context.Context, taskID string) (*crucible.Evaluation, error) {
	e := crucible.Evaluation{TaskID: taskID}
	var mapping, honeypot, baseReward, evaluator jsonScan
	var baseLoss sql.NullFloat64
	var scored, updated timeScan
	err := s.queryRow(ctx, `SELECT version, split_mapping, honeypot, base_loss, scored_at, updated_at, base_reward, evaluator,
			train_tokens, test_tokens
		FROM task_evaluations WHERE task_id = ?`, taskID).Scan(&e.Version, &mapping, &honeypot, &baseLoss, &scored, &updated, &baseReward,
		&evaluator, &e.TrainTokens, &e.TestTokens)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "task %s has no evaluation record", taskID)
	}
	if err != nil {
		return nil, mapErr(err, "find evaluation of task %s", taskID)
	}
	if e.Version > crucible.EvaluationVersion {
		return nil, crucible.Errorf(crucible.EINTERNAL, "task %s: evaluation record format %d is newer than this crucible knows (%d)",
			taskID, e.Version, crucible.EvaluationVersion).WithHint("run the crucible version that wrote it, or a newer one")
	}
	if mapping.b != nil {
		e.SplitMapping = &crucible.ColumnMapping{}
		if err := mapping.decode(e.SplitMapping, "task "+taskID+" split mapping"); err != nil {
			return nil, err
		}
	}
	if honeypot.b != nil {
		e.Honeypot = &crucible.Honeypot{}
		if err := honeypot.decode(e.Honeypot, "task "+taskID+" honeypot"); err != nil {
			return nil, err
		}
	}
	if evaluator.b != nil {
		e.Evaluator = &crucible.EvaluatorInfo{}
		if err := evaluator.decode(e.Evaluator, "task "+taskID+" evaluator"); err != nil {
			return nil, err
		}
	}
	if baseLoss.Valid {
		e.BaseLoss = &baseLoss.Float64
	}
	if baseReward.b != nil {
		e.BaseReward = &crucible.RewardResult{}
		if err := baseReward.decode(e.BaseReward, "task "+taskID+" base reward"); err != nil {
			return nil, err
		}
	}
	e.ScoredAt, e.UpdatedAt = scored.ptr(), updated.t
	return &e, nil
}

// SaveEvaluation stores e as its task's record in the current format
// version, filling in Version and UpdatedAt. Returns ENOTFOUND for an
// unknown task.
func (s *Store) SaveEvaluation(ctx context.Context, e *crucible.Evaluation) error {
	c := *e
	c.Version, c.UpdatedAt = crucible.EvaluationVersion, norm(s.now())
	var mapping, honeypot, evaluator any
	var err error
	if c.SplitMapping != nil {
		if mapping, err = jsonArg(c.SplitMapping); err != nil {
			return err
		}
	}
	if c.Honeypot != nil {
		if honeypot, err = jsonArg(c.Honeypot); err != nil {
			return err
		}
	}
	if c.Evaluator != nil {
		if evaluator, err = jsonArg(c.Evaluator); err != nil {
			return err
		}
	}
	var baseLoss any
	if c.BaseLoss != nil {
		baseLoss = *c.BaseLoss
	}
	baseReward, err := rewardArg(c.BaseReward)
	if err != nil {
		return err
	}
	c.ScoredAt = normPtr(c.ScoredAt)
	_, err = s.exec(ctx, `INSERT INTO task_evaluations (task_id, version, split_mapping, honeypot, base_loss, scored_at, updated_at,
			base_reward, evaluator, train_tokens, test_tokens)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (task_id) DO UPDATE SET version = excluded.version, split_mapping = excluded.split_mapping,
			honeypot = excluded.honeypot, base_loss = excluded.base_loss, scored_at = excluded.scored_at,
			updated_at = excluded.updated_at, base_reward = excluded.base_reward, evaluator = excluded.evaluator,
			train_tokens = excluded.train_tokens, test_tokens = excluded.test_tokens`,
		c.TaskID, c.Version, mapping, honeypot, baseLoss, s.timePtrArg(c.ScoredAt), s.timeArg(c.UpdatedAt), baseReward,
		evaluator, c.TrainTokens, c.TestTokens)
	if constraintOf(err) == foreignKeyViolation {
		return crucible.Errorf(crucible.ENOTFOUND, "task %q not found", c.TaskID)
	}
	if err != nil {
		return mapErr(err, "save evaluation of task %s", c.TaskID)
	}
	*e = c
	return nil
}

// SaveFingerprint records one submission's weight-delta fingerprint,
// replacing an earlier one. Returns ENOTFOUND for an unknown task, EINVALID
// for an empty fingerprint.
func (s *Store) SaveFingerprint(ctx context.Context, taskID, hotkey string, fp []float32) error {
	if len(fp) == 0 || hotkey == "" {
		return crucible.Errorf(crucible.EINVALID, "task %s: a fingerprint needs a hotkey and values", taskID)
	}
	b, err := json.Marshal(fp)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "task %s: fingerprint of %s", taskID, hotkey)
	}
	_, err = s.exec(ctx, `INSERT INTO task_fingerprints (task_id, hotkey, fingerprint, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (task_id, hotkey) DO UPDATE SET fingerprint = excluded.fingerprint, created_at = excluded.created_at`,
		taskID, hotkey, string(b), s.timeArg(s.now()))
	if constraintOf(err) == foreignKeyViolation {
		return crucible.Errorf(crucible.ENOTFOUND, "task %q not found", taskID)
	}
	return mapErr(err, "save fingerprint of %s for task %s", hotkey, taskID)
}

// FindFingerprints returns a task's submission fingerprints by hotkey.
func (s *Store) FindFingerprints(ctx context.Context, taskID string) (map[string][]float32, error) {
	rows, err := s.query(ctx, "SELECT hotkey, fingerprint FROM task_fingerprints WHERE task_id = ? ORDER BY hotkey", taskID)
	if err != nil {
		return nil, mapErr(err, "find fingerprints of task %s", taskID)
	}
	defer rows.Close()
	out := map[string][]float32{}
	for rows.Next() {
		var hotkey string
		var fp jsonScan
		if err := rows.Scan(&hotkey, &fp); err != nil {
			return nil, mapErr(err, "find fingerprints of task %s", taskID)
		}
		var v []float32
		if err := fp.decode(&v, fmt.Sprintf("task %s fingerprint of %s", taskID, hotkey)); err != nil {
			return nil, err
		}
		out[hotkey] = v
	}
	return out, mapErr(rows.Err(), "find fingerprints of task %s", taskID)
}
