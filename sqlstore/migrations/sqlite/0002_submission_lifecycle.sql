-- When a miner acknowledged start_training, and why a submission failed.
ALTER TABLE submissions ADD COLUMN started_at TEXT;
ALTER TABLE submissions ADD COLUMN failure TEXT NOT NULL DEFAULT '';
