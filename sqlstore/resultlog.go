package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/crucible-net/crucible/crucible"
)

// AppendResult stores e when it extends the chain: e.Seq must be one past
// the last entry and e.PrevHash the last entry's Hash (1 and "" for the
// first). Returns EINVALID for a missing hash or kind or a payload that is
// not JSON, ECONFLICT when e does not extend the chain (including when
// another writer appended first). CreatedAt is filled in when zero.
func (s *Store) AppendResult(ctx context.Context, e *crucible.ResultEntry) error {
	if e.Hash == "" {
		return crucible.Errorf(crucible.EINVALID, "result entry %d has no hash", e.Seq)
	}
	if !json.Valid(e.Payload) || !utf8.Valid(e.Payload) {
		return crucible.Errorf(crucible.EINVALID, "result entry %d: payload is not valid JSON", e.Seq)
	}
	created := e.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	created = norm(created)
	err := s.WithTx(ctx, func(tx *Store) error {
		var lastSeq int64
		var lastHash string
		err := tx.queryRow(ctx, "SELECT seq, hash FROM results_log ORDER BY seq DESC LIMIT 1").Scan(&lastSeq, &lastHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return mapErr(err, "append result")
		}
		if e.Seq != lastSeq+1 || e.PrevHash != lastHash {
			return crucible.Errorf(crucible.ECONFLICT,
				"result entry %d (prev %q) does not extend the log, whose last entry is %d (hash %q)",
				e.Seq, e.PrevHash, lastSeq, lastHash)
		}
		_, err = tx.exec(ctx, `INSERT INTO results_log (seq, prev_hash, hash, kind, payload, signer, signature, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.Seq, e.PrevHash, e.Hash, e.Kind, string(e.Payload), e.Signer,
			e.Signature, tx.timeArg(created))
		if constraintOf(err) == uniqueViolation {
			return crucible.Errorf(crucible.ECONFLICT, "result entry %d: another entry with this seq or hash was appended", e.Seq)
		}
		return mapErr(err, "append result %d", e.Seq)
	})
	if err != nil {
		return err
	}
	e.CreatedAt = created
	return nil
}

const resultColumns = "seq, prev_hash, hash, kind, payload, signer, signature, created_at"

func scanResult(r rowScanner) (*crucible.ResultEntry, error) {
	var (
		e       crucible.ResultEntry
		payload string
		created timeScan
	)
	if err := r.Scan(&e.Seq, &e.PrevHash, &e.Hash, &e.Kind, &payload, &e.Signer, &e.Signature, &created); err != nil {
		return nil, err
	}
	e.Payload, e.CreatedAt = []byte(payload), created.t
	return &e, nil
}

// LastResult returns the newest entry. Returns ENOTFOUND when the log is empty.
func (s *Store) LastResult(ctx context.Context) (*crucible.ResultEntry, error) {
	e, err := scanResult(s.queryRow(ctx, "SELECT "+resultColumns+" FROM results_log ORDER BY seq DESC LIMIT 1"))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "the results log is empty")
	}
	if err != nil {
		return nil, mapErr(err, "last result")
	}
	return e, nil
}

// FindResults returns up to limit entries after afterSeq, in order; limit 0
// means 1000.
func (s *Store) FindResults(ctx context.Context, afterSeq int64, limit int) ([]*crucible.ResultEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.query(ctx, "SELECT "+resultColumns+" FROM results_log WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit)
	if err != nil {
		return nil, mapErr(err, "find results")
	}
	defer rows.Close()
	var out []*crucible.ResultEntry
	for rows.Next() {
		e, err := scanResult(rows)
		if err != nil {
			return nil, mapErr(err, "find results")
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find results")
	}
	return out, nil
}
