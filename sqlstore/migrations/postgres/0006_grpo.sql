-- grpo tasks: a task's reward functions, each submission's reward
-- evaluation and the base model's, as JSON.

ALTER TABLE tasks ADD COLUMN rewards JSONB;
ALTER TABLE submissions ADD COLUMN reward JSONB;
ALTER TABLE task_evaluations ADD COLUMN base_reward JSONB;
