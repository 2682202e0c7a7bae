-- The validator's per-task evaluation record and submission fingerprints
-- get their own tables; the untyped tasks.extra column goes, its contents
-- carried over; the train split's token count becomes a column of tasks.

CREATE TABLE task_evaluations (
    task_id       TEXT PRIMARY KEY REFERENCES tasks (id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    split_mapping JSONB,
    honeypot      JSONB,
    base_loss     DOUBLE PRECISION,
    scored_at     TIMESTAMPTZ,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE task_fingerprints (
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    hotkey      TEXT NOT NULL,
    fingerprint JSONB NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (task_id, hotkey)
);

ALTER TABLE tasks ADD COLUMN train_tokens BIGINT NOT NULL DEFAULT 0;

UPDATE tasks SET train_tokens = (extra->>'train_tokens')::double precision::bigint
WHERE jsonb_typeof(extra->'train_tokens') = 'number';

INSERT INTO task_evaluations (task_id, version, split_mapping, honeypot, base_loss, scored_at, updated_at)
SELECT id, 1,
       CASE WHEN jsonb_typeof(extra->'split_mapping') = 'object' THEN extra->'split_mapping' END,
       CASE WHEN jsonb_typeof(extra->'honeypot') = 'object' THEN extra->'honeypot' END,
       CASE WHEN jsonb_typeof(extra->'base_loss') = 'number' THEN (extra->>'base_loss')::double precision END,
       CASE WHEN jsonb_typeof(extra->'scored_at') = 'string' THEN (extra->>'scored_at')::timestamptz END,
       updated_at
FROM tasks
WHERE jsonb_typeof(extra) = 'object' AND (extra->'split_mapping' IS NOT NULL OR extra->'honeypot' IS NOT NULL
    OR extra->'base_loss' IS NOT NULL OR extra->'scored_at' IS NOT NULL);

INSERT INTO task_fingerprints (task_id, hotkey, fingerprint, created_at)
SELECT t.id, fp.key, fp.value, t.updated_at
FROM tasks t, jsonb_each(t.extra->'fingerprints') AS fp
WHERE jsonb_typeof(t.extra->'fingerprints') = 'object' AND jsonb_typeof(fp.value) = 'array';

ALTER TABLE tasks DROP COLUMN extra;
