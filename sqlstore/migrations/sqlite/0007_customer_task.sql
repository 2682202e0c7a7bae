-- What a customer gives a task besides model and dataset: the name they
-- know the dataset by, their own test set, and hyperparameter hints (JSON).

ALTER TABLE tasks ADD COLUMN dataset_name TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN test_dataset TEXT NOT NULL DEFAULT '';
ALTER TABLE tasks ADD COLUMN hints TEXT;
