-- The validator's per-task evaluation record and submission fingerprints
-- get their own tables; the untyped tasks.extra column goes, its contents
-- carried over; the train split's token count becomes a column of tasks.

CREATE TABLE task_evaluations (
    task_id       TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    split_mapping TEXT,
    honeypot      TEXT,
    base_loss     REAL,
    scored_at     TEXT,
    updated_at    TEXT NOT NULL
);

CREATE TABLE task_fingerprints (
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    hotkey      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (task_id, hotkey)
);

ALTER TABLE tasks ADD COLUMN train_tokens INTEGER NOT NULL DEFAULT 0;

UPDATE tasks SET train_tokens = CAST(json_extract(extra, '$.train_tokens') AS INTEGER)
WHERE json_valid(extra) AND json_type(extra, '$.train_tokens') IN ('integer', 'real');

INSERT INTO task_evaluations (task_id, version, split_mapping, honeypot, base_loss, scored_at, updated_at)
SELECT id, 1,
       CASE json_type(extra, '$.split_mapping') WHEN 'object' THEN json_extract(extra, '$.split_mapping') END,
       CASE json_type(extra, '$.honeypot') WHEN 'object' THEN json_extract(extra, '$.honeypot') END,
       CASE WHEN json_type(extra, '$.base_loss') IN ('integer', 'real') THEN json_extract(extra, '$.base_loss') END,
       CASE json_type(extra, '$.scored_at') WHEN 'text' THEN json_extract(extra, '$.scored_at') END,
       updated_at
FROM tasks
WHERE json_valid(extra) AND (json_type(extra, '$.split_mapping') IS NOT NULL OR json_type(extra, '$.honeypot') IS NOT NULL
    OR json_type(extra, '$.base_loss') IS NOT NULL OR json_type(extra, '$.scored_at') IS NOT NULL);

INSERT INTO task_fingerprints (task_id, hotkey, fingerprint, created_at)
SELECT tasks.id, fp.key, fp.value, tasks.updated_at
FROM tasks, json_each(tasks.extra, '$.fingerprints') AS fp
WHERE json_valid(tasks.extra) AND json_type(tasks.extra, '$.fingerprints') = 'object' AND fp.type = 'array';

ALTER TABLE tasks DROP COLUMN extra;
