package crucible

import (
	"context"
	"strings"
	"time"
)

// TaskType is what kind of fine-tuning a task asks for.
type TaskType string

// Task types.
const (
	TaskInstruct TaskType = "instruct" // instruction / input / output columns
	TaskChat     TaskType = "chat"     // a list of role-tagged messages
	TaskDPO      TaskType = "dpo"      // prompt, chosen and rejected answers (preference tuning)
	TaskText     TaskType = "text"     // plain text, continued pretraining
	TaskGRPO     TaskType = "grpo"     // prompts scored by reward functions (reinforcement fine-tuning)
)

// TaskTypes lists every task type.
var TaskTypes = []TaskType{TaskInstruct, TaskChat, TaskDPO, TaskText, TaskGRPO}

// Valid reports whether t is a known task type.
func (t TaskType) Valid() bool {
	switch t {
	case TaskInstruct, TaskChat, TaskDPO, TaskText, TaskGRPO:
		return true
	}
	return false
}

// ParseTaskType returns the task type named s or an EINVALID error.
func ParseTaskType(s string) (TaskType, error) {
	t := TaskType(s)
	if !t.Valid() {
		return "", Errorf(EINVALID, "unknown task type %q (want instruct, chat, dpo, text or grpo)", s)
	}
	return t, nil
}

// Task is one fine-tuning job: a base model, a dataset and a time budget.
type Task struct {
	ID        string     `json:"id"`
	AccountID string     `json:"account_id,omitempty"` // the customer; empty for synthetic tasks
	Type      TaskType   `json:"type"`
	Status    TaskStatus `json:"status"`
	IsOrganic bool       `json:"is_organic"` // a customer's task, as opposed to a synthetic one
	Private   bool       `json:"private"`    // visible only to its account

	Model            string `json:"model"`              // base model: local path, cache id or asset name
	ModelParamsCount int64  `json:"model_params_count"` // parameters of the base model
	Dataset          string `json:"dataset"`            // dataset: local path, cache id or upload id
	// DatasetName is what the customer knows the dataset by: the name of the
	// file they uploaded, or the hub id; empty for the validator's own.
	DatasetName string `json:"dataset_name,omitempty"`
	// TestDataset is the customer's own test set ("upload:ID"), evaluated
	// on instead of a split of Dataset and, like a split, never sent to
	// miners; empty when the validator splits Dataset.
	TestDataset string `json:"test_dataset,omitempty"`
	// Hints are the customer's suggested hyperparameters, passed to miners.
	Hints *Hints `json:"hints,omitempty"`
	// Price is what the task was quoted at creation, in Currency (0 and ""
	// where the validator has no price table); it counts against the
	// account's credit limit unless the task ended before training.
	Price           float64        `json:"price,omitempty"`
	Currency        string         `json:"currency,omitempty"`
	Mapping         *ColumnMapping `json:"mapping,omitempty"` // nil until given or detected
	Rewards         []Reward       `json:"rewards,omitempty"` // grpo: the reward functions and their weights
	HoursToComplete float64        `json:"hours_to_complete"` // training time budget for miners
	TrainData       string         `json:"train_data,omitempty"`
	TestData        string         `json:"-"` // blob key of the hidden test split; never sent to miners
	TrainRows       int            `json:"train_rows,omitempty"`
	TestRows        int            `json:"test_rows,omitempty"`
	TrainTokens     int64          `json:"train_tokens,omitempty"` // tokens in the train split with the base model's tokenizer (scaled from its first 200,000 rows when larger); 0 when not counted
	TimesDelayed    int            `json:"times_delayed"`
	NextDelayAt     *time.Time     `json:"next_delay_at,omitempty"`
	EvalAttempts    int            `json:"eval_attempts"`
	ResultModel     string         `json:"result_model,omitempty"` // blob key of the winner's result
	Winner          string         `json:"winner,omitempty"`       // the winning miner's hotkey
	Failure         string         `json:"failure,omitempty"`      // why the task failed, when it did
	CreatedAt       time.Time      `json:"created_at"`
	UpdatedAt       time.Time      `json:"updated_at"`
	StartedAt       *time.Time     `json:"started_at,omitempty"`
	TerminationAt   *time.Time     `json:"termination_at,omitempty"` // training deadline
	CompletedAt     *time.Time     `json:"completed_at,omitempty"`
	Version         int            `json:"version"` // optimistic lock, bumped on every update
	// Competition is how the task finds its miners: CompetitionOpen,
	// CompetitionChampion or CompetitionTournament. A customer may ask for
	// open or champion; empty lets the validator choose (the champion when
	// there is one).
	Competition string `json:"competition,omitempty"`
	// Assignees are the miners a champion or tournament task is given to,
	// without an open offer to the others.
	Assignees []string `json:"assignees,omitempty"`
	// Tournament is the tournament a tournament task belongs to.
	Tournament string `json:"tournament,omitempty"`
}

// DatasetLabel is the name to show for the task's dataset: the one the
// customer knows it by when there is one, else its reference.
func (t *Task) DatasetLabel() string {
	if t.DatasetName != "" {
		return t.DatasetName
	}
	return t.Dataset
}

// How a task finds its miners.
const (
	// CompetitionOpen offers the task to every miner; the best submission wins.
	CompetitionOpen = "open"
	// CompetitionChampion gives the task to the current champion's miner
	// (and offers it to every miner when the champion cannot take it).
	CompetitionChampion = "champion"
	// CompetitionTournament is a tournament match's task, trained by the
	// match's members only and decided by the tournament's rules.
	CompetitionTournament = "tournament"
)

// Routed reports whether the task is given to named miners (a champion or
// a tournament task) rather than competed for in the open: its results do
// not count toward per-task weights.
func (t *Task) Routed() bool {
	return t.Competition == CompetitionChampion || t.Competition == CompetitionTournament
}

// Validate checks the fields a customer supplies.
func (t *Task) Validate() error {
	if !t.Type.Valid() {
		return Errorf(EINVALID, "task type %q is not one of instruct, chat, dpo, text, grpo", t.Type)
	}
	if t.Model == "" {
		return Errorf(EINVALID, "task model is required")
	}
	if t.Dataset == "" {
		return Errorf(EINVALID, "task dataset is required")
	}
	if t.HoursToComplete < 0 {
		return Errorf(EINVALID, "hours_to_complete must not be negative, got %g", t.HoursToComplete)
	}
	if err := t.Hints.Validate(); err != nil {
		return err
	}
	if t.Mapping != nil {
		if err := t.Mapping.Validate(t.Type); err != nil {
			return err
		}
	}
	switch t.Competition {
	case "", CompetitionOpen, CompetitionChampion, CompetitionTournament:
	default:
		return Errorf(EINVALID, "competition %q is not one of open, champion", t.Competition)
	}
	if len(t.Assignees) > 64 {
		return Errorf(EINVALID, "a task is given to at most 64 miners, not %d", len(t.Assignees))
	}
	if t.Type == TaskGRPO {
		return ValidateRewards(t.Rewards)
	}
	if len(t.Rewards) > 0 {
		return Errorf(EINVALID, "rewards are for grpo tasks, not %s tasks", t.Type)
	}
	return nil
}

// ColumnMapping says which dataset columns play which role, in the field
// names Gradients uses. Only the fields for the task's type are used.
type ColumnMapping struct {
	// instruct
	FieldInstruction string `json:"field_instruction,omitempty"`
	FieldInput       string `json:"field_input,omitempty"`
	FieldOutput      string `json:"field_output,omitempty"`
	FieldSystem      string `json:"field_system,omitempty"`
	Format           string `json:"format,omitempty"`
	NoInputFormat    string `json:"no_input_format,omitempty"`
	SystemFormat     string `json:"system_format,omitempty"`
	// chat
	ChatColumn       string `json:"chat_column,omitempty"`
	ChatRoleField    string `json:"chat_role_field,omitempty"`
	ChatContentField string `json:"chat_content_field,omitempty"`
	ChatUserRole     string `json:"chat_user_reference,omitempty"`
	ChatAssistRole   string `json:"chat_assistant_reference,omitempty"`
	ChatSystemRole   string `json:"chat_system_reference,omitempty"`
	// dpo
	FieldPrompt    string `json:"field_prompt,omitempty"`
	FieldChosen    string `json:"field_chosen,omitempty"`
	FieldRejected  string `json:"field_rejected,omitempty"`
	PromptFormat   string `json:"prompt_format,omitempty"`
	ChosenFormat   string `json:"chosen_format,omitempty"`
	RejectedFormat string `json:"rejected_format,omitempty"`
	// text
	FieldText string `json:"field_text,omitempty"`
	// grpo: the prompt is FieldPrompt (and FieldSystem); ExtraColumns
	// names, comma-separated, the columns the reward functions read
	// (the expected answer, say). Empty means every other column.
	ExtraColumns string `json:"extra_columns,omitempty"`
}

// Extras returns the names in ExtraColumns, trimmed, empty ones dropped.
func (m *ColumnMapping) Extras() []string {
	var out []string
	for _, c := range strings.Split(m.ExtraColumns, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Validate checks that the fields a task type needs are present.
func (m *ColumnMapping) Validate(t TaskType) error {
	need := func(name, v string) error {
		if v == "" {
			article := "a"
			if t == TaskInstruct {
				article = "an"
			}
			return Errorf(EINVALID, "column mapping for %s %s task needs %s", article, t, name)
		}
		return nil
	}
	switch t {
	case TaskInstruct:
		if err := need("field_instruction", m.FieldInstruction); err != nil {
			return err
		}
		return need("field_output", m.FieldOutput)
	case TaskChat:
		return need("chat_column", m.ChatColumn)
	case TaskDPO:
		for _, f := range [][2]string{{"field_prompt", m.FieldPrompt}, {"field_chosen", m.FieldChosen}, {"field_rejected", m.FieldRejected}} {
			if err := need(f[0], f[1]); err != nil {
				return err
			}
		}
		return nil
	case TaskText:
		return need("field_text", m.FieldText)
	case TaskGRPO:
		if err := need("field_prompt", m.FieldPrompt); err != nil {
			return err
		}
		for _, c := range m.Extras() {
			if c == m.FieldPrompt {
				return Errorf(EINVALID, "column mapping for a grpo task: extra column %q is the prompt column", c)
			}
		}
		return nil
	}
	return Errorf(EINVALID, "unknown task type %q", t)
}

// TaskFilter selects tasks in TaskService.FindTasks. Zero fields match all.
type TaskFilter struct {
	AccountID string
	// IDPrefix keeps the tasks whose ID starts with it (lower-case hex and
	// dashes only: a customer may type the first characters of an ID).
	IDPrefix string
	Statuses []TaskStatus
	Type     TaskType
	Limit    int
	Offset   int
}

// TaskService stores tasks and moves them through their lifecycle.
type TaskService interface {
	// CreateTask stores a new pending task and fills in its ID and times.
	// Returns EINVALID when the task does not validate.
	CreateTask(ctx context.Context, t *Task) error
	// FindTask returns the task with id. Returns ENOTFOUND.
	FindTask(ctx context.Context, id string) (*Task, error)
	// FindTasks returns the tasks matching f, newest first, and the total count.
	FindTasks(ctx context.Context, f TaskFilter) ([]*Task, int, error)
	// UpdateTask saves t when its Version matches the stored one and, if its
	// status changed, the transition is allowed. Returns ENOTFOUND, ECONFLICT.
	UpdateTask(ctx context.Context, t *Task) error
}
