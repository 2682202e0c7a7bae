-- The network's totals (GET /v1/network, the dashboard: tasks by status,
-- what was trained and spent) read this index alone instead of every row
-- of every task: an index-only scan of a few narrow columns.

CREATE INDEX tasks_totals ON tasks (status)
    INCLUDE (price, started_at, model_params_count, train_rows, train_tokens);
