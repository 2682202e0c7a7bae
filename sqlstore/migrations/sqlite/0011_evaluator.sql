-- Which evaluator computed a task's losses (crucible's engine or the
-- PyTorch evaluator, with its versions), and the blob keys of the splits'
-- token files written when the data was prepared.

ALTER TABLE task_evaluations ADD COLUMN evaluator TEXT;
ALTER TABLE task_evaluations ADD COLUMN train_tokens TEXT NOT NULL DEFAULT '';
ALTER TABLE task_evaluations ADD COLUMN test_tokens TEXT NOT NULL DEFAULT '';
