package api

import (
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Node-to-node paths. Every request on them is signed by the caller's hotkey
// (see package sign).
const (
	// Served by miners.
	PathTaskOffer     = "/task_offer"     // POST TaskOffer → OfferResponse
	PathStartTraining = "/start_training" // POST TrainRequest → TrainResponse
	PathTaskStatus    = "/task_status/"   // GET /task_status/{task_id} → MinerTaskStatus
	PathMinerInfo     = "/miner_info"     // GET → MinerInfo: the validator's heartbeat

	// Served by validators.
	PathUpload = "/v1/node/uploads/" // PUT /v1/node/uploads/{task_id}/{expected_name}: a tar of the result directory
	PathBlob   = "/v1/node/blobs/"   // GET /v1/node/blobs/{key}?expires=…&signature=…: a signed, expiring download link
	// PathResults is the validator's public results log: GET
	// /v1/results?after=SEQ&limit=N → []crucible.ResultEntry, oldest first.
	PathResults = "/v1/results"
)

// HeaderBodySHA256 carries the hex SHA-256 of a signed request's body (the
// hash its signature covers), so that the receiver judges the signature
// before it reads the body.
const HeaderBodySHA256 = "body-sha256"

// TaskOffer asks a miner whether it will take a task. Miners answer quickly:
// the validator waits only a few seconds.
type TaskOffer struct {
	TaskID           string            `json:"task_id"`
	TaskType         crucible.TaskType `json:"task_type"`
	Model            string            `json:"model"`
	ModelParamsCount int64             `json:"model_params_count"`
	DatasetSize      int               `json:"ds_size"` // rows in the train split
	HoursToComplete  float64           `json:"hours_to_complete"`
}

// OfferResponse is a miner's answer to a TaskOffer.
type OfferResponse struct {
	Accepted bool   `json:"accepted"`
	Message  string `json:"message"`
}

// TrainRequest tells a miner that it was chosen and gives it what it needs.
// The dataset is the train split only, already mapped to the standard column
// names of its task type (see data.StandardMapping); the test split never
// leaves the validator.
type TrainRequest struct {
	TaskID     string            `json:"task_id"`
	TaskType   crucible.TaskType `json:"task_type"`
	Model      string            `json:"model"`       // the base model's name
	ModelURL   string            `json:"model_url"`   // signed link to a tar of the base model's HF directory
	DatasetURL string            `json:"dataset_url"` // signed link to the train split (JSONL)
	// TokensURL is a signed link to the train split as a token file
	// (docs/tokens.md: ids, loss mask, sequence offsets, written with the
	// base model's tokenizer), so a trainer never has to reproduce prompt
	// formatting; empty when the validator wrote none.
	TokensURL string                  `json:"tokens_url,omitempty"`
	Mapping   *crucible.ColumnMapping `json:"mapping"` // how to read the train split's columns
	// DatasetSize and DatasetSHA256 describe the train split, so that a
	// miner resumes a broken download and checks what it got; 0 and ""
	// from validators that do not say.
	DatasetSize   int64  `json:"dataset_size,omitempty"`
	DatasetSHA256 string `json:"dataset_sha256,omitempty"`
	// Rewards are a grpo task's reward functions: train to raise their
	// weighted sum on completions of the train split's prompts.
	Rewards []crucible.Reward `json:"rewards,omitempty"`
	// Hints are the customer's suggested hyperparameters; a strategy may
	// follow them or not (the hidden test split decides).
	Hints           *crucible.Hints `json:"hints,omitempty"`
	HoursToComplete float64         `json:"hours_to_complete"`
	Deadline        time.Time       `json:"deadline"`      // the upload must complete before this
	ExpectedName    string          `json:"expected_name"` // the unique name the result must be uploaded under
	UploadURL       string          `json:"upload_url"`    // where to PUT the result tar (signed request)
	// ResultsURL is the validator's public results log, where the task's
	// results and each submission's training summary are published when
	// it ends (GET ?after=SEQ); empty from validators that do not say.
	ResultsURL string `json:"results_url,omitempty"`
}

// TrainResponse acknowledges a TrainRequest.
type TrainResponse struct {
	TaskID  string `json:"task_id"`
	Message string `json:"message"`
}

// Miner job states, as reported by MinerTaskStatus.
const (
	JobQueued    = "queued"
	JobTraining  = "training"
	JobUploading = "uploading"
	JobDone      = "done"
	JobFailed    = "failed"
)

// MinerTaskStatus is a miner's report on one task.
type MinerTaskStatus struct {
	TaskID    string   `json:"task_id"`
	State     string   `json:"state"`
	Progress  float64  `json:"progress"` // 0..1 of the time budget or of the planned steps
	Step      int      `json:"step"`
	TrainLoss *float64 `json:"train_loss,omitempty"`
	// TrainReward is a grpo job's latest mean reward of its samples.
	TrainReward *float64  `json:"train_reward,omitempty"`
	Message     string    `json:"message,omitempty"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// UploadResponse is the validator's receipt for an upload: the size and
// sha256 of exactly what it stored.
type UploadResponse struct {
	TaskID       string    `json:"task_id"`
	ExpectedName string    `json:"expected_name"`
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	ReceivedAt   time.Time `json:"received_at"`
}

// ErrorResponse is the body of every error answer, on every API.
type ErrorResponse struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// MinerInfo is what a miner declares it takes, the answer to the
// validator's periodic heartbeat: a miner that answered recently is
// online, and estimates check a task's budget against these limits.
type MinerInfo struct {
	Strategy  string              `json:"strategy"`
	TaskTypes []crucible.TaskType `json:"task_types"` // the task types it trains
	MinHours  float64             `json:"min_hours"`  // the shortest time budget it accepts
	MaxHours  float64             `json:"max_hours"`
	MaxParams int64               `json:"max_params"` // the largest base model it takes
	FreeSlots int                 `json:"free_slots"` // jobs it could take now
}
