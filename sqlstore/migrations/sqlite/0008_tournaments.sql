-- Tournaments: how a task finds its miners (open, the champion, a
-- tournament match), the tournaments with their entries, matches and
-- events, and the history of champions.

ALTER TABLE tasks ADD COLUMN competition TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN assignees TEXT;
ALTER TABLE tasks ADD COLUMN tournament_id TEXT NOT NULL DEFAULT '';

CREATE TABLE tournaments (
    id                   TEXT PRIMARY KEY,
    status               TEXT NOT NULL,
    settings             TEXT NOT NULL,
    defender             TEXT NOT NULL DEFAULT '',
    defender_method_hash TEXT NOT NULL DEFAULT '',
    defender_wins        INTEGER NOT NULL DEFAULT 0,
    round                INTEGER NOT NULL DEFAULT 0,
    challenger           TEXT NOT NULL DEFAULT '',
    winner               TEXT NOT NULL DEFAULT '',
    margin               REAL,
    failure              TEXT NOT NULL DEFAULT '',
    entries_close        TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    finished_at          TEXT,
    version              INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tournaments_created ON tournaments (created_at);

CREATE TABLE tournament_entries (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    hotkey        TEXT NOT NULL,
    method        TEXT NOT NULL,
    method_hash   TEXT NOT NULL,
    fee           REAL NOT NULL DEFAULT 0,
    fee_block     INTEGER NOT NULL DEFAULT 0,
    signed_at     TEXT NOT NULL,
    signature     TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (tournament_id, hotkey),
    UNIQUE (tournament_id, method_hash)
);

CREATE TABLE tournament_matches (
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    round         INTEGER NOT NULL,
    idx           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    members       TEXT NOT NULL,
    tasks         TEXT NOT NULL,
    done          INTEGER NOT NULL DEFAULT 0,
    advance       TEXT,
    note          TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (tournament_id, round, idx)
);

CREATE TABLE champions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    hotkey        TEXT NOT NULL,
    method        TEXT NOT NULL,
    method_hash   TEXT NOT NULL,
    tournament_id TEXT UNIQUE,
    wins          INTEGER NOT NULL DEFAULT 1,
    margin        REAL,
    seeded        INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE TABLE tournament_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tournament_id TEXT NOT NULL REFERENCES tournaments (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL,
    message       TEXT NOT NULL DEFAULT '',
    data          TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX tournament_events_tournament ON tournament_events (tournament_id, id);
