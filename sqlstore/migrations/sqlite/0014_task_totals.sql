-- An account's task totals by status, kept by triggers in the transaction
-- of every task write: GET /v1/account and /v1/network read these few rows
-- instead of summing every task of the account or the network on each
-- request. spent is the prices that count against the account: not those of
-- tasks that ended before any miner trained (server.counts).

CREATE TABLE task_totals (
    account_id   TEXT NOT NULL,
    status       TEXT NOT NULL,
    tasks        INTEGER NOT NULL DEFAULT 0,
    params       INTEGER NOT NULL DEFAULT 0,
    train_rows   INTEGER NOT NULL DEFAULT 0,
    train_tokens INTEGER NOT NULL DEFAULT 0,
    spent        REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, status)
);

INSERT INTO task_totals (account_id, status, tasks, params, train_rows, train_tokens, spent)
SELECT account_id, status, COUNT(*), SUM(model_params_count), SUM(train_rows), SUM(train_tokens),
    SUM(CASE WHEN status IN ('prep_task_failure', 'failure_finding_nodes')
        OR (status = 'cancelled' AND started_at IS NULL) THEN 0 ELSE price END)
FROM tasks GROUP BY account_id, status;

CREATE TRIGGER task_totals_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_totals (account_id, status, tasks, params, train_rows, train_tokens, spent)
    VALUES (NEW.account_id, NEW.status, 1, NEW.model_params_count, NEW.train_rows, NEW.train_tokens,
        CASE WHEN NEW.status IN ('prep_task_failure', 'failure_finding_nodes')
            OR (NEW.status = 'cancelled' AND NEW.started_at IS NULL) THEN 0 ELSE NEW.price END)
    ON CONFLICT (account_id, status) DO UPDATE SET
        tasks = tasks + 1,
        params = params + excluded.params,
        train_rows = train_rows + excluded.train_rows,
        train_tokens = train_tokens + excluded.train_tokens,
        spent = spent + excluded.spent;
END;

CREATE TRIGGER task_totals_delete AFTER DELETE ON tasks
BEGIN
    UPDATE task_totals SET
        tasks = tasks - 1,
        params = params - OLD.model_params_count,
        train_rows = train_rows - OLD.train_rows,
        train_tokens = train_tokens - OLD.train_tokens,
        spent = spent - (CASE WHEN OLD.status IN ('prep_task_failure', 'failure_finding_nodes')
            OR (OLD.status = 'cancelled' AND OLD.started_at IS NULL) THEN 0 ELSE OLD.price END)
    WHERE account_id = OLD.account_id AND status = OLD.status;
END;

-- SQLite triggers cannot call one another: an update takes the old row
-- away as task_totals_delete does, then adds the new one as
-- task_totals_insert does (Postgres shares one function).
CREATE TRIGGER task_totals_update AFTER UPDATE ON tasks
WHEN OLD.account_id IS NOT NEW.account_id OR OLD.status IS NOT NEW.status OR OLD.price IS NOT NEW.price
    OR OLD.started_at IS NOT NEW.started_at OR OLD.model_params_count IS NOT NEW.model_params_count
    OR OLD.train_rows IS NOT NEW.train_rows OR OLD.train_tokens IS NOT NEW.train_tokens
BEGIN
    UPDATE task_totals SET
        tasks = tasks - 1,
        params = params - OLD.model_params_count,
        train_rows = train_rows - OLD.train_rows,
        train_tokens = train_tokens - OLD.train_tokens,
        spent = spent - (CASE WHEN OLD.status IN ('prep_task_failure', 'failure_finding_nodes')
            OR (OLD.status = 'cancelled' AND OLD.started_at IS NULL) THEN 0 ELSE OLD.price END)
    WHERE account_id = OLD.account_id AND status = OLD.status;
    INSERT INTO task_totals (account_id, status, tasks, params, train_rows, train_tokens, spent)
    VALUES (NEW.account_id, NEW.status, 1, NEW.model_params_count, NEW.train_rows, NEW.train_tokens,
        CASE WHEN NEW.status IN ('prep_task_failure', 'failure_finding_nodes')
            OR (NEW.status = 'cancelled' AND NEW.started_at IS NULL) THEN 0 ELSE NEW.price END)
    ON CONFLICT (account_id, status) DO UPDATE SET
        tasks = tasks + 1,
        params = params + excluded.params,
        train_rows = train_rows + excluded.train_rows,
        train_tokens = train_tokens + excluded.train_tokens,
        spent = spent + excluded.spent;
END;
