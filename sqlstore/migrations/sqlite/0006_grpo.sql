-- grpo tasks: a task's reward functions, each submission's reward
-- evaluation and the base model's, as JSON.

ALTER TABLE tasks ADD COLUMN rewards TEXT;
ALTER TABLE submissions ADD COLUMN reward TEXT;
ALTER TABLE task_evaluations ADD COLUMN base_reward TEXT;
