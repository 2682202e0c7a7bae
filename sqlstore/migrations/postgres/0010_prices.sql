-- What tasks cost: the price each was quoted at creation and its currency,
-- and each account's credit limit (0: none).

ALTER TABLE tasks ADD COLUMN price DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN currency TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN credit_limit DOUBLE PRECISION NOT NULL DEFAULT 0;
