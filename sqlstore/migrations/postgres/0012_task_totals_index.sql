-- An account's totals (GET /v1/account: what it has spent; the dashboard's
-- counts by status) read this index alone instead of every row of the
-- account's tasks: an index-only scan of a few narrow columns.

CREATE INDEX tasks_account_totals ON tasks (account_id, status)
    INCLUDE (price, started_at, model_params_count, train_rows, train_tokens);
