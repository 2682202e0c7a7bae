package api

import (
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Customer API paths, all under /v1 and authenticated with an API key
// ("Authorization: Bearer KEY") unless noted. The OpenAPI document served at
// PathOpenAPI describes every one of them.
const (
	PathTasks    = "/v1/tasks"    // POST CreateTaskRequest → CreatedTask; GET → TaskList
	PathEstimate = "/v1/estimate" // POST CreateTaskRequest → Estimate
	PathDatasets = "/v1/datasets" // POST raw file (?name=FILE) → DatasetUpload
	PathUploads  = "/v1/uploads"  // resumable uploads: POST BeginUpload → UploadSession; PUT/GET/DELETE /v1/uploads/{id}
	PathModels   = "/v1/models"   // GET → ModelList
	PathNetwork  = "/v1/network"  // GET → NetworkStatus (no key needed)
	PathMiners   = "/v1/miners"   // GET ?days=N → []MinerStanding (no key needed)
	PathKeys     = "/v1/keys"     // POST CreateKeyRequest → CreatedKey; GET → []crucible.APIKey; DELETE /v1/keys/{id}
	PathOpenAPI  = "/v1/openapi.json"
	// PathWebhooks: POST CreateWebhookRequest → CreatedWebhook; GET →
	// []crucible.Webhook; DELETE /v1/webhooks/{id}; GET
	// /v1/webhooks/{id}/deliveries → []crucible.WebhookDelivery (the log,
	// newest first); POST /v1/webhooks/{id}/ping → crucible.WebhookDelivery.
	PathWebhooks = "/v1/webhooks"
)

// CreateWebhookRequest registers an endpoint to tell of the account's
// tasks.
type CreateWebhookRequest struct {
	URL string `json:"url"`
}

// AccountBalance is an account's credit: its limit (0: none), what its
// tasks have cost, and what is left (absent without a limit), in the
// validator's currency.
type AccountBalance struct {
	Account     *crucible.Account `json:"account"`
	CreditLimit float64           `json:"credit_limit"`
	Spent       float64           `json:"spent"`
	Left        *float64          `json:"left,omitempty"`
}

// SetCreditRequest sets an account's credit limit (admins).
type SetCreditRequest struct {
	CreditLimit float64 `json:"credit_limit"`
}

// Paths of accounts: GET PathAccount → AccountBalance (the caller's); PUT
// /v1/accounts/{id}/credit SetCreditRequest → AccountBalance (admins).
const (
	PathAccount  = "/v1/account"
	PathAccounts = "/v1/accounts"
)

// CreatedWebhook returns a new webhook with its signing secret, shown once.
type CreatedWebhook struct {
	Webhook *crucible.Webhook `json:"webhook"`
	Secret  string            `json:"secret"`
}

// Task sub-resources, under PathTasks + "/{id}".
const (
	TaskResultsPath  = "/results"  // GET → TaskResults
	TaskEventsPath   = "/events"   // GET ?after=ID → []crucible.TaskEvent, or a text/event-stream
	TaskDownloadPath = "/download" // GET ?format=tar|tar.gz → the winner's model directory as an archive
	TaskCancelPath   = "/cancel"   // POST → crucible.Task
)

// EventEnd is the name of the last server-sent event of a task's stream,
// sent once the task has finished and every event has been delivered.
const EventEnd = "end"

// CreateTaskRequest asks for a fine-tuning task. Only model and dataset are
// required: the task type and column mapping are detected and the time
// budget chosen from the dataset's size when they are left out.
type CreateTaskRequest struct {
	Type    crucible.TaskType       `json:"type,omitempty"`
	Model   string                  `json:"model"`   // a name from GET /v1/models (admins: any path or cache id)
	Dataset string                  `json:"dataset"` // "upload:ID" from POST /v1/datasets, or a Hugging Face dataset id in the cache
	Mapping *crucible.ColumnMapping `json:"mapping,omitempty"`
	Hours   float64                 `json:"hours,omitempty"`
	// Public makes the task visible to every account, and its test split
	// and results published for auditors once it ends. Tasks are private
	// to their account unless it is set.
	Public bool `json:"public,omitempty"`
	// Private is the default and kept for older clients: a task is private
	// unless Public is set.
	Private bool `json:"private,omitempty"`
	// Rewards are a grpo task's reward functions with their weights
	// (built-ins by name and args, or Starlark code); giving them makes
	// the task grpo. They are run on the dataset's first rows before the
	// task is accepted.
	Rewards []crucible.Reward `json:"rewards,omitempty"`
	// TestDataset is the customer's own test set ("upload:ID", same type
	// and columns as Dataset): submissions are evaluated on it instead of
	// a split of Dataset, all of whose rows are then trained on. Miners
	// never see it.
	TestDataset string `json:"test_dataset,omitempty"`
	// Hints are suggested hyperparameters passed to every miner; a miner's
	// strategy may follow them or not, and the test split still decides.
	Hints *crucible.Hints `json:"hints,omitempty"`
	// Competition is how the task finds its miners: "champion" (the
	// default when there is a champion) gives it to the current
	// tournament champion's miner; "open" offers it to every miner and the
	// best submission wins.
	Competition string `json:"competition,omitempty"`
}

// Estimate is what a task will take before it is accepted.
type Estimate struct {
	Type        crucible.TaskType      `json:"type"`
	DatasetName string                 `json:"dataset_name,omitempty"` // the uploaded file's name, or the hub id
	Mapping     crucible.ColumnMapping `json:"mapping"`
	Reason      string                 `json:"reason,omitempty"` // how the mapping was chosen
	Rows        int                    `json:"rows"`
	TrainRows   int                    `json:"train_rows"`
	TestRows    int                    `json:"test_rows"`
	ModelParams int64                  `json:"model_params"`
	Hours       float64                `json:"hours"`         // the training budget
	ETA         time.Duration          `json:"eta_ns"`        // budget plus preparation and evaluation
	Cost        float64                `json:"cost"`          // in compute units: hours × model size
	CostUnit    string                 `json:"cost_unit"`     // what Cost counts
	Miners      int                    `json:"miners_online"` // miners that answered the validator's heartbeat lately
	// Price is what the task costs by the operator's price table, in
	// Currency, and PriceBasis how it was reckoned; 0 and "" where the
	// validator has no price table.
	Price      float64 `json:"price,omitempty"`
	Currency   string  `json:"currency,omitempty"`
	PriceBasis string  `json:"price_basis,omitempty"`
	// OwnTestSet is set when the customer brought a test set: every row of
	// the dataset is trained on (TrainRows = Rows) and TestRows are the
	// test set's.
	OwnTestSet bool `json:"own_test_set,omitempty"`
	// MinersFit counts the online miners whose declared limits (task
	// types, model size, budget range) take this task.
	MinersFit int `json:"miners_fit"`
	// Warnings say what stands in the task's way: no miner online, a
	// budget below every miner's minimum, ...
	Warnings []string `json:"warnings,omitempty"`
}

// RewardBuiltin describes one of the validator's built-in grpo rewards: the
// dashboard's new-task form offers them by name.
type RewardBuiltin struct {
	Name  string            `json:"name"`
	Doc   string            `json:"doc"`
	Range string            `json:"range"`          // the values it gives, e.g. "0 or 1"
	Args  map[string]string `json:"args,omitempty"` // argument → meaning and default
}

// CreatedTask is the answer to a task creation: the stored task and the
// estimate it was accepted with.
type CreatedTask struct {
	Task     *crucible.Task `json:"task"`
	Estimate *Estimate      `json:"estimate"`
}

// DatasetUpload is the receipt of an uploaded dataset, with what its check
// found. An upload that fails its check is refused; its problems, each
// "file:line: field: problem", are in Errors and in the error message.
type DatasetUpload struct {
	ID       string                 `json:"id"`     // pass "upload:ID" as a task's dataset
	Name     string                 `json:"name"`   // the file name it was uploaded as
	Size     int64                  `json:"size"`   // bytes
	SHA256   string                 `json:"sha256"` // of the bytes received
	Rows     int                    `json:"rows"`   // rows read by the check
	Format   crucible.TaskType      `json:"format"` // detected task type
	Mapping  crucible.ColumnMapping `json:"mapping"`
	Reason   string                 `json:"reason"` // why that type and mapping
	Errors   []string               `json:"errors,omitempty"`
	Warnings []string               `json:"warnings,omitempty"`
}

// Ref is the dataset reference a task names to use this upload.
func (u *DatasetUpload) Ref() string { return "upload:" + u.ID }

// ModelList names the base models a customer may pick.
type ModelList struct {
	Models []string `json:"models"`
}

// TaskList is a page of tasks.
type TaskList struct {
	Tasks []*crucible.Task `json:"tasks"`
	Total int              `json:"total"`
}

// TaskResults is a task's per-miner breakdown, best first.
type TaskResults struct {
	Task     *crucible.Task `json:"task"`
	BaseLoss *float64       `json:"base_loss,omitempty"`
	// BaseReward is a grpo task's base model evaluation; each miner's is
	// its Submission's Reward, with parts in the order of Task.Rewards.
	BaseReward *crucible.RewardResult `json:"base_reward,omitempty"`
	Miners     []*MinerResult         `json:"miners"`
}

// MinerResult is one miner's line in a task's breakdown.
type MinerResult struct {
	*crucible.Submission
	Rank   int  `json:"rank"`             // 1 for the best evaluated submission; 0 when not ranked
	Winner bool `json:"winner,omitempty"` // the task's winner
}

// MinerStanding is one miner's line on the leaderboard.
type MinerStanding struct {
	Hotkey   string   `json:"hotkey"`
	UID      *int     `json:"uid,omitempty"`
	Tasks    int      `json:"tasks"`
	Wins     int      `json:"wins"`
	Score    float64  `json:"score"`  // sum of quality scores in the window
	Weight   float64  `json:"weight"` // the validator's latest weight for it
	BestLoss *float64 `json:"best_loss,omitempty"`
}

// NetworkStatus is the network's headline counters.
type NetworkStatus struct {
	Tasks           int                         `json:"tasks"`
	TasksSucceeded  int                         `json:"tasks_succeeded"`
	TasksRunning    int                         `json:"tasks_running"`
	TasksByStatus   map[crucible.TaskStatus]int `json:"tasks_by_status"`
	ParamsTrained   int64                       `json:"params_trained"`    // sum of base model sizes over succeeded tasks
	RowsTrainedOn   int64                       `json:"rows_trained_on"`   // sum of train rows over succeeded tasks
	TokensTrainedOn int64                       `json:"tokens_trained_on"` // sum of train-split tokens over succeeded tasks
	Miners          int                         `json:"miners"`
	Validators      int                         `json:"validators"`
	LastWeightsAt   *time.Time                  `json:"last_weights_at,omitempty"`
}

// CreateKeyRequest creates an API key, for the caller's account or (admins
// only) for a new account.
type CreateKeyRequest struct {
	Name        string `json:"name,omitempty"`
	AccountName string `json:"account_name,omitempty"` // admins: create a new account with this name
	Admin       bool   `json:"admin,omitempty"`        // admins: the new account is an admin too
	RateLimit   int    `json:"rate_limit,omitempty"`   // requests a minute for this key; 0 for the server's default. Above the default: admins only
	// CreditLimit is a new account's credit limit in the validator's
	// currency (admins, with AccountName); 0 sets none.
	CreditLimit float64 `json:"credit_limit,omitempty"`
}

// CreatedKey returns a new key's secret, shown once.
type CreatedKey struct {
	Key    *crucible.APIKey `json:"key"`
	Secret string           `json:"secret"`
}
