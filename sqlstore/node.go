package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/crucible-net/crucible/crucible"
)

const nodeColumns = `hotkey, uid, coldkey, ip, port, stake, validator_permit, incentive, trust, validator_trust,
	dividends, consensus, emission, last_update, updated_at`

// UpsertNodes replaces the stored metagraph with nodes, in one transaction.
// A node without UpdatedAt gets the current time. Returns EINVALID for a node
// without a hotkey or a hotkey listed twice.
func (s *Store) UpsertNodes(ctx context.Context, nodes []*crucible.Node) error {
	seen := make(map[string]bool, len(nodes))
	for i, n := range nodes {
		if n.Hotkey == "" {
			return crucible.Errorf(crucible.EINVALID, "node %d (uid %d) has no hotkey", i, n.UID)
		}
		if seen[n.Hotkey] {
			return crucible.Errorf(crucible.EINVALID, "node %d: hotkey %s listed twice", i, n.Hotkey)
		}
		seen[n.Hotkey] = true
	}
	now := norm(s.now())
	return s.WithTx(ctx, func(tx *Store) error {
		if _, err := tx.exec(ctx, "DELETE FROM nodes"); err != nil {
			return mapErr(err, "replace nodes")
		}
		for _, n := range nodes {
			if n.UpdatedAt.IsZero() {
				n.UpdatedAt = now
			}
			n.UpdatedAt = norm(n.UpdatedAt)
			if _, err := tx.exec(ctx, "INSERT INTO nodes ("+nodeColumns+") VALUES ("+placeholders(15)+")",
				n.Hotkey, n.UID, n.Coldkey, n.IP, n.Port, n.Stake, n.Validator, n.Incentive, n.Trust, n.VTrust,
				n.Dividends, n.Consensus, n.Emission, n.LastUpdate, tx.timeArg(n.UpdatedAt)); err != nil {
				return mapErr(err, "store node %s", n.Hotkey)
			}
		}
		return nil
	})
}

func scanNode(r rowScanner) (*crucible.Node, error) {
	var (
		n         crucible.Node
		validator boolScan
		updated   timeScan
	)
	if err := r.Scan(&n.Hotkey, &n.UID, &n.Coldkey, &n.IP, &n.Port, &n.Stake, &validator, &n.Incentive, &n.Trust,
		&n.VTrust, &n.Dividends, &n.Consensus, &n.Emission, &n.LastUpdate, &updated); err != nil {
		return nil, err
	}
	n.Validator, n.UpdatedAt = bool(validator), updated.t
	return &n, nil
}

// FindNode returns the node with hotkey. Returns ENOTFOUND.
func (s *Store) FindNode(ctx context.Context, hotkey string) (*crucible.Node, error) {
	n, err := scanNode(s.queryRow(ctx, "SELECT "+nodeColumns+" FROM nodes WHERE hotkey = ?", hotkey))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "node %s not found", hotkey)
	}
	if err != nil {
		return nil, mapErr(err, "find node")
	}
	return n, nil
}

// FindNodes returns every stored node ordered by uid.
func (s *Store) FindNodes(ctx context.Context) ([]*crucible.Node, error) {
	rows, err := s.query(ctx, "SELECT "+nodeColumns+" FROM nodes ORDER BY uid, hotkey")
	if err != nil {
		return nil, mapErr(err, "find nodes")
	}
	defer rows.Close()
	var out []*crucible.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, mapErr(err, "find nodes")
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(err, "find nodes")
	}
	return out, nil
}

// CountNodes counts the stored metagraph's validators (a permit, and
// dividends at least their incentive: crucible.Node.IsValidator) and
// miners (the others) in one query.
func (s *Store) CountNodes(ctx context.Context) (validators, miners int, err error) {
	err = s.queryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN validator_permit AND (incentive = 0 OR dividends >= incentive) THEN 1 ELSE 0 END), 0),
		COUNT(*)
		FROM nodes`).Scan(&validators, &miners)
	if err != nil {
		return 0, 0, mapErr(err, "count nodes")
	}
	return validators, miners - validators, nil
}
