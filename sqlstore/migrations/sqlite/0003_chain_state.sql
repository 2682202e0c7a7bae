-- The state of a local chain embedded in this validator (one row).
CREATE TABLE chain_state (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    state      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
