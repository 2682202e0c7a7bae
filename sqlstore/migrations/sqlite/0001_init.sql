-- crucible schema, SQLite dialect. Times are UTC text in a fixed-width
-- layout (2006-01-02T15:04:05.000000Z), booleans are 0/1, JSON is text.

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    admin      INTEGER NOT NULL DEFAULT 0,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL DEFAULT '',
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

CREATE TABLE tasks (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL DEFAULT '',
    type               TEXT NOT NULL,
    status             TEXT NOT NULL,
    is_organic         INTEGER NOT NULL DEFAULT 0,
    private            INTEGER NOT NULL DEFAULT 0,
    model              TEXT NOT NULL,
    model_params_count INTEGER NOT NULL DEFAULT 0,
    dataset            TEXT NOT NULL,
    mapping            TEXT,
    hours_to_complete  REAL NOT NULL DEFAULT 0,
    train_data         TEXT NOT NULL DEFAULT '',
    test_data          TEXT NOT NULL DEFAULT '',
    train_rows         INTEGER NOT NULL DEFAULT 0,
    test_rows          INTEGER NOT NULL DEFAULT 0,
    times_delayed      INTEGER NOT NULL DEFAULT 0,
    next_delay_at      TEXT,
    eval_attempts      INTEGER NOT NULL DEFAULT 0,
    result_model       TEXT NOT NULL DEFAULT '',
    winner             TEXT NOT NULL DEFAULT '',
    failure            TEXT NOT NULL DEFAULT '',
    extra              TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    started_at         TEXT,
    termination_at     TEXT,
    completed_at       TEXT,
    version            INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX tasks_status ON tasks (status, created_at);
CREATE INDEX tasks_account ON tasks (account_id, created_at);
CREATE INDEX tasks_created ON tasks (created_at);

CREATE TABLE submissions (
    task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    hotkey        TEXT NOT NULL,
    expected_name TEXT NOT NULL DEFAULT '',
    result_key    TEXT NOT NULL DEFAULT '',
    result_sha256 TEXT NOT NULL DEFAULT '',
    is_adapter    INTEGER NOT NULL DEFAULT 0,
    uploaded_at   TEXT,
    test_loss     REAL,
    quality_score REAL,
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (task_id, hotkey)
);

CREATE TABLE offer_responses (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    hotkey     TEXT NOT NULL,
    accepted   INTEGER NOT NULL,
    message    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX offer_responses_task ON offer_responses (task_id, id);

CREATE TABLE task_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    hotkey      TEXT NOT NULL DEFAULT '',
    from_status TEXT NOT NULL DEFAULT '',
    to_status   TEXT NOT NULL DEFAULT '',
    message     TEXT NOT NULL DEFAULT '',
    data        TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX task_events_task ON task_events (task_id, id);

CREATE TABLE nodes (
    hotkey            TEXT PRIMARY KEY,
    uid               INTEGER NOT NULL,
    coldkey           TEXT NOT NULL DEFAULT '',
    ip                TEXT NOT NULL DEFAULT '',
    port              INTEGER NOT NULL DEFAULT 0,
    stake             REAL NOT NULL DEFAULT 0,
    validator_permit  INTEGER NOT NULL DEFAULT 0,
    incentive         REAL NOT NULL DEFAULT 0,
    trust             REAL NOT NULL DEFAULT 0,
    validator_trust   REAL NOT NULL DEFAULT 0,
    dividends         REAL NOT NULL DEFAULT 0,
    consensus         REAL NOT NULL DEFAULT 0,
    emission          REAL NOT NULL DEFAULT 0,
    last_update       INTEGER NOT NULL DEFAULT 0,
    updated_at        TEXT NOT NULL
);
CREATE INDEX nodes_uid ON nodes (uid);

CREATE TABLE scores (
    task_id       TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    hotkey        TEXT NOT NULL,
    task_type     TEXT NOT NULL,
    is_organic    INTEGER NOT NULL DEFAULT 0,
    quality_score REAL NOT NULL,
    work          REAL NOT NULL DEFAULT 0,
    test_loss     REAL,
    spec_version  TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (task_id, hotkey)
);
CREATE INDEX scores_created ON scores (created_at);

CREATE TABLE results_log (
    seq        INTEGER PRIMARY KEY,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL DEFAULT '',
    payload    TEXT NOT NULL,
    signer     TEXT NOT NULL DEFAULT '',
    signature  TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);

CREATE TABLE weights_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    netuid     INTEGER NOT NULL DEFAULT 0,
    weights    TEXT NOT NULL,
    block      INTEGER NOT NULL DEFAULT 0,
    note       TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
