package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/crucible-net/crucible/crucible"
)

var _ crucible.TournamentService = (*Store)(nil)

const tournamentColumns = `id, status, settings, defender, defender_method_hash, defender_wins, round, challenger,
	winner, margin, failure, entries_close, created_at, updated_at, finished_at, version`

// CreateTournament stores t with a new ID (unless it has one), version 1
// and its times. Returns EINVALID for bad settings, ECONFLICT when its ID
// is taken.
func (s *Store) CreateTournament(ctx context.Context, t *crucible.Tournament) error {
	if err := t.Settings.Validate(); err != nil {
		return err
	}
	c := *t
	if c.ID == "" {
		c.ID = newID()
	} else if !isUUID(c.ID) {
		return crucible.Errorf(crucible.EINVALID, "tournament id %q is not a UUID", c.ID)
	}
	if c.Status == "" {
		c.Status = crucible.TournamentEntries
	}
	if !c.Status.Valid() {
		return crucible.Errorf(crucible.EINVALID, "tournament: unknown status %q", c.Status)
	}
	now := norm(s.now())
	c.CreatedAt, c.UpdatedAt, c.Version = now, now, 1
	c.EntriesClose = norm(c.EntriesClose)
	args, err := s.tournamentArgs(&c)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, "INSERT INTO tournaments ("+tournamentColumns+") VALUES ("+placeholders(16)+")", args...); err != nil {
		return mapErr(err, "create tournament")
	}
	*t = c
	return nil
}

func (s *Store) tournamentArgs(t *crucible.Tournament) ([]any, error) {
	settings, err := jsonArg(t.Settings)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "tournament settings")
	}
	var margin any
	if t.Margin != nil {
		margin = *t.Margin
	}
	return []any{t.ID, string(t.Status), settings, t.Defender, t.DefenderMethodHash, t.DefenderWins, t.Round, t.Challenger,
		t.Winner, margin, t.Failure, s.timeArg(t.EntriesClose), s.timeArg(t.CreatedAt), s.timeArg(t.UpdatedAt),
		s.timePtrArg(t.FinishedAt), t.Version}, nil
}

func scanTournament(r rowScanner) (*crucible.Tournament, error) {
	var (
		t                               crucible.Tournament
		status                          string
		settings                        jsonScan
		margin                          sql.NullFloat64
		closes, created, updated, ended timeScan
	)
	if err := r.Scan(&t.ID, &status, &settings, &t.Defender, &t.DefenderMethodHash, &t.DefenderWins, &t.Round, &t.Challenger,
		&t.Winner, &margin, &t.Failure, &closes, &created, &updated, &ended, &t.Version); err != nil {
		return nil, err
	}
	t.Status = crucible.TournamentStatus(status)
	if err := settings.decode(&t.Settings, "tournament "+t.ID+" settings"); err != nil {
		return nil, err
	}
	if margin.Valid {
		t.Margin = &margin.Float64
	}
	t.EntriesClose, t.CreatedAt, t.UpdatedAt, t.FinishedAt = closes.t, created.t, updated.t, ended.ptr()
	return &t, nil
}

// FindTournament returns one tournament. Returns ENOTFOUND.
func (s *Store) FindTournament(ctx context.Context, id string) (*crucible.Tournament, error) {
	t, err := scanTournament(s.queryRow(ctx, "SELECT "+tournamentColumns+" FROM tournaments WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, crucible.Errorf(crucible.ENOTFOUND, "tournament %q not found", id)
	}
	if err != nil {
		return nil, mapErr(err, "find tournament %s", id)
	}
	return t, nil
}

// FindTournaments returns tournaments, newest first.
func (s *Store) FindTournaments(ctx context.Context, f crucible.TournamentFilter) ([]*crucible.Tournament, error) {
	q := "SELECT " + tournamentColumns + " FROM tournaments"
	var args []any
	if len(f.Statuses) > 0 {
		q += " WHERE status IN (" + placeholders(len(f.Statuses)) + ")"
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY created_at DESC, id LIMIT ?"
	args = append(args, limit)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err, "find tournaments")
	}
	defer rows.Close()
	var out []*crucible.Tournament
	for rows.Next() {
		t, err := scanTournament(rows)
		if err != nil {
			return nil, mapErr(err, "find tournaments")
		}
		out = append(out, t)
	}
	return out, mapErr(rows.Err(), "find tournaments")
}

// UpdateTournament saves t when its Version matches and bumps it. Returns
// ENOTFOUND, ECONFLICT.
func (s *Store) UpdateTournament(ctx context.Context, t *crucible.Tournament) error {
	if !t.Status.Valid() {
		return crucible.Errorf(crucible.EINVALID, "tournament %s: unknown status %q", t.ID, t.Status)
	}
	c := *t
	c.Version = t.Version + 1
	c.UpdatedAt = norm(s.now())
	c.EntriesClose, c.FinishedAt = norm(c.EntriesClose), normPtr(c.FinishedAt)
	args, err := s.tournamentArgs(&c)
	if err != nil {
		return err
	}
	// args: id, status, settings, ... created_at (12), updated_at (13), finished_at (14), version (15).
	res, err := s.exec(ctx, `UPDATE tournaments SET status = ?, settings = ?, defender = ?, defender_method_hash = ?,
		defender_wins = ?, round = ?, challenger = ?, winner = ?, margin = ?, failure = ?, entries_close = ?,
		updated_at = ?, finished_at = ?, version = ? WHERE id = ? AND version = ?`,
		args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11],
		args[13], args[14], args[15], t.ID, t.Version)
	if err != nil {
		return mapErr(err, "update tournament %s", t.ID)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return mapErr(err, "update tournament %s", t.ID)
	}
	if n != 1 {
		if _, ferr := s.FindTournament(ctx, t.ID); ferr != nil {
			return ferr
		}
		return crucible.Errorf(crucible.ECONFLICT, "tournament %s was changed by someone else (yours: version %d)", t.ID, t.Version).
			WithHint("read the tournament again and retry")
	}
	c.CreatedAt = t.CreatedAt
	*t = c
	return nil
}

// AddEntry stores an entry. Returns ENOTFOUND for an unknown tournament,
// ECONFLICT when the miner has entered already or its method hash is
// another entrant's.
func (s *Store) AddEntry(ctx context.Context, e *crucible.TournamentEntry) error {
	if e.TournamentID == "" || e.Hotkey == "" || e.MethodHash == "" || e.Signature == "" {
		return crucible.Errorf(crucible.EINVALID, "tournament entry needs a tournament, a hotkey, a method hash and a signature")
	}
	method, err := jsonArg(e.Method)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "tournament entry method")
	}
	c := *e
	c.CreatedAt, c.SignedAt = norm(s.now()), norm(c.SignedAt)
	return s.WithTx(ctx, func(tx *Store) error {
		var who string
		err := tx.queryRow(ctx, "SELECT hotkey FROM tournament_entries WHERE tournament_id = ? AND (hotkey = ? OR method_hash = ?)",
			c.TournamentID, c.Hotkey, c.MethodHash).Scan(&who)
		switch {
		case err == nil && who == c.Hotkey:
			return crucible.Errorf(crucible.ECONFLICT, "%s has entered tournament %s already", c.Hotkey, c.TournamentID)
		case err == nil:
			return crucible.Errorf(crucible.ECONFLICT, "method %s is %s's entry in tournament %s", c.MethodHash, who, c.TournamentID).
				WithHint("enter your own method: two miners may not enter the same one")
		case !errors.Is(err, sql.ErrNoRows):
			return mapErr(err, "add tournament entry")
		}
		_, err = tx.exec(ctx, `INSERT INTO tournament_entries (tournament_id, hotkey, method, method_hash, fee, fee_block,
			signed_at, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.TournamentID, c.Hotkey, method, c.MethodHash, c.Fee, c.FeeBlock, tx.timeArg(c.SignedAt), c.Signature, tx.timeArg(c.CreatedAt))
		if constraintOf(err) == foreignKeyViolation {
			return crucible.Errorf(crucible.ENOTFOUND, "tournament %q not found", c.TournamentID)
		}
		if err != nil {
			return mapErr(err, "add tournament entry of %s", c.Hotkey)
		}
		*e = c
		return nil
	})
}

// FindEntries returns a tournament's entries in the order they came.
func (s *Store) FindEntries(ctx context.Context, tournamentID string) ([]*crucible.TournamentEntry, error) {
	rows, err := s.query(ctx, `SELECT tournament_id, hotkey, method, method_hash, fee, fee_block, signed_at, signature, created_at
		FROM tournament_entries WHERE tournament_id = ? ORDER BY seq`, tournamentID)
	if err != nil {
		return nil, mapErr(err, "find entries of tournament %s", tournamentID)
	}
	defer rows.Close()
	var out []*crucible.TournamentEntry
	for rows.Next() {
		var e crucible.TournamentEntry
		var method jsonScan
		var signed, created timeScan
		if err := rows.Scan(&e.TournamentID, &e.Hotkey, &method, &e.MethodHash, &e.Fee, &e.FeeBlock, &signed, &e.Signature, &created); err != nil {
			return nil, mapErr(err, "find entries of tournament %s", tournamentID)
		}
		if err := method.decode(&e.Method, "entry method of "+e.Hotkey); err != nil {
			return nil, err
		}
		e.SignedAt, e.CreatedAt = signed.t, created.t
		out = append(out, &e)
	}
	return out, mapErr(rows.Err(), "find entries of tournament %s", tournamentID)
}

// SaveMatch inserts a match (Version 0) or updates it when its Version
// matches, bumping it. Returns ECONFLICT, ENOTFOUND for an unknown
// tournament.
func (s *Store) SaveMatch(ctx context.Context, m *crucible.TournamentMatch) error {
	if !(m.Kind == crucible.MatchGroup || m.Kind == crucible.MatchPair || m.Kind == crucible.MatchBoss) || m.Round < 1 || m.Index < 0 {
		return crucible.Errorf(crucible.EINVALID, "tournament %s: match %d/%d of kind %q", m.TournamentID, m.Round, m.Index, m.Kind)
	}
	members, err := jsonArg(nonNilStrings(m.Members))
	if err != nil {
		return err
	}
	tasks, err := jsonArg(nonNilTasks(m.Tasks))
	if err != nil {
		return err
	}
	var advance any
	if m.Advance != nil {
		if advance, err = jsonArg(m.Advance); err != nil {
			return err
		}
	}
	c := *m
	c.UpdatedAt, c.Version = norm(s.now()), m.Version+1
	if m.Version == 0 {
		_, err = s.exec(ctx, `INSERT INTO tournament_matches (tournament_id, round, idx, kind, members, tasks, done, advance,
			note, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.TournamentID, c.Round, c.Index, string(c.Kind), members, tasks, c.Done, advance, c.Note, s.timeArg(c.UpdatedAt), c.Version)
		if constraintOf(err) == foreignKeyViolation {
			return crucible.Errorf(crucible.ENOTFOUND, "tournament %q not found", c.TournamentID)
		}
		if err != nil {
			return mapErr(err, "save match %d/%d of tournament %s", c.Round, c.Index, c.TournamentID)
		}
		*m = c
		return nil
	}
	res, err := s.exec(ctx, `UPDATE tournament_matches SET kind = ?, members = ?, tasks = ?, done = ?, advance = ?, note = ?,
		updated_at = ?, version = ? WHERE tournament_id = ? AND round = ? AND idx = ? AND version = ?`,
		string(c.Kind), members, tasks, c.Done, advance, c.Note, s.timeArg(c.UpdatedAt), c.Version,
		c.TournamentID, c.Round, c.Index, m.Version)
	if err != nil {
		return mapErr(err, "save match %d/%d of tournament %s", c.Round, c.Index, c.TournamentID)
	}
	if n, err := res.RowsAffected(); err != nil {
		return mapErr(err, "save match")
	} else if n != 1 {
		return crucible.Errorf(crucible.ECONFLICT, "match %d/%d of tournament %s was changed by someone else", c.Round, c.Index, c.TournamentID)
	}
	*m = c
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilTasks(t []crucible.MatchTask) []crucible.MatchTask {
	if t == nil {
		return []crucible.MatchTask{}
	}
	return t
}

// FindMatches returns a tournament's matches by round, then index.
func (s *Store) FindMatches(ctx context.Context, tournamentID string) ([]*crucible.TournamentMatch, error) {
	rows, err := s.query(ctx, `SELECT tournament_id, round, idx, kind, members, tasks, done, advance, note, updated_at, version
		FROM tournament_matches WHERE tournament_id = ? ORDER BY round, idx`, tournamentID)
	if err != nil {
		return nil, mapErr(err, "find matches of tournament %s", tournamentID)
	}
	defer rows.Close()
	var out []*crucible.TournamentMatch
	for rows.Next() {
		var m crucible.TournamentMatch
		var kind string
		var members, tasks, advance jsonScan
		var done boolScan
		var updated timeScan
		if err := rows.Scan(&m.TournamentID, &m.Round, &m.Index, &kind, &members, &tasks, &done, &advance, &m.Note, &updated, &m.Version); err != nil {
			return nil, mapErr(err, "find matches of tournament %s", tournamentID)
		}
		m.Kind, m.Done, m.UpdatedAt = crucible.MatchKind(kind), bool(done), updated.t
		what := fmt.Sprintf("tournament %s match %d/%d", tournamentID, m.Round, m.Index)
		if err := members.decode(&m.Members, what+" members"); err != nil {
			return nil, err
		}
		if err := tasks.decode(&m.Tasks, what+" tasks"); err != nil {
			return nil, err
		}
		if err := advance.decode(&m.Advance, what+" advance"); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, mapErr(rows.Err(), "find matches of tournament %s", tournamentID)
}

// AddChampion appends to the champions' history and fills in Seq and
// CreatedAt. Returns ECONFLICT when the tournament recorded its champion
// already.
func (s *Store) AddChampion(ctx context.Context, c *crucible.Champion) error {
	if c.Hotkey == "" || c.MethodHash == "" {
		return crucible.Errorf(crucible.EINVALID, "a champion needs a hotkey and a method hash")
	}
	method, err := jsonArg(c.Method)
	if err != nil {
		return err
	}
	var tid, margin any
	if c.TournamentID != "" {
		tid = c.TournamentID
	}
	if c.Margin != nil {
		margin = *c.Margin
	}
	created := norm(s.now())
	err = s.queryRow(ctx, `INSERT INTO champions (hotkey, method, method_hash, tournament_id, wins, margin, seeded, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		c.Hotkey, method, c.MethodHash, tid, c.Wins, margin, c.Seeded, s.timeArg(created)).Scan(&c.Seq)
	if err != nil {
		return mapErr(err, "add champion %s", c.Hotkey)
	}
	c.CreatedAt = created
	return nil
}

// FindChampions returns up to limit champions, newest first; 0 means 100.
func (s *Store) FindChampions(ctx context.Context, limit int) ([]*crucible.Champion, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.query(ctx, `SELECT seq, hotkey, method, method_hash, tournament_id, wins, margin, seeded, created_at
		FROM champions ORDER BY seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, mapErr(err, "find champions")
	}
	defer rows.Close()
	var out []*crucible.Champion
	for rows.Next() {
		var c crucible.Champion
		var method jsonScan
		var tid sql.NullString
		var margin sql.NullFloat64
		var seeded boolScan
		var created timeScan
		if err := rows.Scan(&c.Seq, &c.Hotkey, &method, &c.MethodHash, &tid, &c.Wins, &margin, &seeded, &created); err != nil {
			return nil, mapErr(err, "find champions")
		}
		if err := method.decode(&c.Method, "champion method"); err != nil {
			return nil, err
		}
		c.TournamentID, c.Seeded, c.CreatedAt = tid.String, bool(seeded), created.t
		if margin.Valid {
			c.Margin = &margin.Float64
		}
		out = append(out, &c)
	}
	return out, mapErr(rows.Err(), "find champions")
}

// AppendTournamentEvent stores e and fills in its ID and time. Returns
// ENOTFOUND for an unknown tournament.
func (s *Store) AppendTournamentEvent(ctx context.Context, e *crucible.TournamentEvent) error {
	if e.TournamentID == "" || e.Kind == "" {
		return crucible.Errorf(crucible.EINVALID, "tournament event needs a tournament and a kind")
	}
	data, err := jsonArg(e.Data)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "tournament event data")
	}
	return s.WithTx(ctx, func(tx *Store) error {
		// The same lock as task events: IDs become visible in order.
		if err := tx.lockEvents(ctx); err != nil {
			return err
		}
		created := norm(tx.now())
		err := tx.queryRow(ctx, `INSERT INTO tournament_events (tournament_id, kind, message, data, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`, e.TournamentID, e.Kind, e.Message, data, tx.timeArg(created)).Scan(&e.ID)
		if constraintOf(err) == foreignKeyViolation {
			return crucible.Errorf(crucible.ENOTFOUND, "tournament %q not found", e.TournamentID)
		}
		if err != nil {
			return mapErr(err, "append tournament event")
		}
		e.CreatedAt = created
		return nil
	})
}

// FindTournamentEvents returns a tournament's events after afterID, in
// order, at most limit (0 means 1000).
func (s *Store) FindTournamentEvents(ctx context.Context, tournamentID string, afterID int64, limit int) ([]*crucible.TournamentEvent, error) {
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.query(ctx, `SELECT id, tournament_id, kind, message, data, created_at FROM tournament_events
		WHERE tournament_id = ? AND id > ? ORDER BY id LIMIT ?`, tournamentID, afterID, limit)
	if err != nil {
		return nil, mapErr(err, "find events of tournament %s", tournamentID)
	}
	defer rows.Close()
	var out []*crucible.TournamentEvent
	for rows.Next() {
		var e crucible.TournamentEvent
		var data jsonScan
		var created timeScan
		if err := rows.Scan(&e.ID, &e.TournamentID, &e.Kind, &e.Message, &data, &created); err != nil {
			return nil, mapErr(err, "find events of tournament %s", tournamentID)
		}
		if err := data.decode(&e.Data, "tournament event data"); err != nil {
			return nil, err
		}
		e.CreatedAt = created.t
		out = append(out, &e)
	}
	return out, mapErr(rows.Err(), "find events of tournament %s", tournamentID)
}
