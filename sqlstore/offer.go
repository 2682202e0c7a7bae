package sqlstore

import (
	"context"

	"github.com/crucible-net/crucible/crucible"
)

// AddOfferResponse stores r and fills in its ID and CreatedAt (kept when
// already set). Returns EINVALID without a task or hotkey, ENOTFOUND when the
// task does not exist.
func (s *Store) AddOfferResponse(ctx context.Context, r *crucible.OfferResponse) error {
	if r.TaskID == "" || r.Hotkey == "" {
		return crucible.Errorf(crucible.EINVALID, "offer response needs a task_id and a hotkey")
	}
	created := r.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = norm(created)
	err := s.queryRow(ctx, `INSERT INTO offer_responses (task_id, hotkey, accepted, message, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, r.TaskID, r.Hotkey, r.Accepted, r.Message, s.timeArg(created)).Scan(&r.ID)
	if constraintOf(err) == foreignKeyViolation {
		return crucible.Errorf(crucible.ENOTFOUND, "task %q not found", r.TaskID)
	}
	if err != nil {
		return mapErr(err, "add offer response")
	}
	r.CreatedAt = created
	return nil
}

// FindOfferResponses returns a task's offer responses in the order received.
func (s *Store) FindOfferResponses(ctx context.Context, taskID string) ([]*crucible.OfferResponse, error) {
	rows, err := s.query(ctx, `SELECT id, task_id, hotkey, accepted, message, created_at
		FROM offer_responses WHERE task_id = ? ORDER BY id`, taskID)
	if err != nil {
		return nil, mapErr(err, "find offer responses")
	}
	defer rows.Close()
	var out []*crucible.OfferResponse
	for rows.Next() {
		var (
			r        crucible.OfferResponse
			accepted boolScan
			created  timeScan
		)
		if err := rows.Scan(&r.ID, &r.TaskID, &r.Hotkey, &accepted, &r.Message, &created); err != nil {
			return nil, mapErr(err, "find offer responses")
		}
		r.Accepted, r.CreatedAt = bool(accepted), created.t
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find offer responses")
	}
	return out, nil
}
