package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// CreateConfig configures "crucible tasks create" (with the reward flags
// beside it). Each field's doc comment is its documentation (package
// config).
type CreateConfig struct {
	Conn
	// Model is the base model (see the dashboard's list, or GET /v1/models).
	Model string `flag:"model"`
	// Dataset is a dataset file or folder to upload, a dataset id in the
	// validator's cache, or upload:ID.
	Dataset string `flag:"dataset"`
	// Type is instruct, chat, dpo, text or grpo; empty detects it (grpo with
	// --reward).
	Type string `flag:"type"`
	// Map is the column mapping as field=column, repeatable; empty detects
	// it.
	Map []string `flag:"map"`
	// Hours is the training budget in hours; 0 chooses it from the
	// dataset's size.
	Hours float64 `flag:"hours"`
	// Public lets every account see the task, and once it ends publishes
	// its test split and results for auditors (tasks are private to your
	// account otherwise).
	Public bool `flag:"public"`
	// Competition is champion (trained by the tournament champion's miner,
	// the default when there is one) or open (every miner competes).
	Competition string `flag:"competition"`
	// Estimate prints the estimate and stops.
	Estimate bool `flag:"estimate"`
	// TestDataset is your own test set (a file, folder or upload:ID; same
	// columns as --dataset): the winner is chosen on it, and every row of
	// --dataset is trained on.
	TestDataset string `flag:"test-dataset"`
	// LoRA hints: fine-tune with LoRA (--lora=false: in full).
	LoRA bool `flag:"lora"`
	// LoRARank hints the LoRA rank.
	LoRARank int `flag:"lora-rank"`
	// LearningRate hints the peak learning rate.
	LearningRate float64 `flag:"learning-rate"`
	// Epochs hints the passes over the data.
	Epochs float64 `flag:"epochs"`
	// BatchSize hints the sequences per optimizer step.
	BatchSize int `flag:"batch-size"`
	// MaxLength hints the tokens per sequence.
	MaxLength int `flag:"max-length"`
	// Watch follows the task until it finishes.
	Watch bool `flag:"watch"`

	LoRAGiven bool              `json:"-"` // --lora was given (true or false)
	Rewards   []crucible.Reward `json:"-"` // a grpo task's rewards, from the reward flags
}

// request builds the API request of the settings.
func (cfg *CreateConfig) request() (api.CreateTaskRequest, error) {
	req := api.CreateTaskRequest{Model: cfg.Model, Dataset: cfg.Dataset, Hours: cfg.Hours, Public: cfg.Public,
		Competition: cfg.Competition, TestDataset: cfg.TestDataset, Rewards: cfg.Rewards}
	var err error
	if cfg.Type != "" {
		if req.Type, err = crucible.ParseTaskType(cfg.Type); err != nil {
			return req, err
		}
	}
	if req.Mapping, err = ParseMapping(cfg.Map); err != nil {
		return req, err
	}
	h := crucible.Hints{LoRARank: cfg.LoRARank, LR: cfg.LearningRate, Epochs: cfg.Epochs, BatchSize: cfg.BatchSize, MaxLength: cfg.MaxLength}
	if cfg.LoRAGiven {
		l := cfg.LoRA
		h.LoRA = &l
	}
	if !h.Empty() {
		req.Hints = &h
	}
	return req, req.Hints.Validate()
}

// CreateTask is "crucible tasks create": it uploads the dataset (and test
// set) when they are on this machine, asks for the estimate, creates the
// task and, with Watch, follows it. Results go to out, progress to errw.
func CreateTask(ctx context.Context, cfg *CreateConfig, out, errw io.Writer) error {
	c, err := cfg.Client()
	if err != nil {
		return err
	}
	req, err := cfg.request()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "crucible-dataset-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	local, what, err := LocalDataset(req.Dataset, tmp)
	if err != nil {
		return err
	}
	if what != "" && !cfg.JSON {
		fmt.Fprintf(errw, "sending %s as one JSONL file\n", what)
	}
	if req.TestDataset != "" {
		testLocal, _, err := LocalDataset(req.TestDataset, tmp)
		if err != nil {
			return err
		}
		if testLocal != "" {
			up, err := UploadDataset(ctx, c, cfg.Home, testLocal, errw, IsTerminal(errw))
			if err != nil {
				return fmt.Errorf("test set: %w", err)
			}
			if !cfg.JSON {
				fmt.Fprintf(out, "uploaded the test set %s: %d rows (evaluated on instead of a split; miners never see it)\n", up.Name, up.Rows)
			}
			req.TestDataset = up.Ref()
		}
	}
	if local != "" {
		// Check a model name before spending an upload on the dataset
		// (admins may name paths and hub ids, which are not listed).
		if models, err := c.Models(ctx); err == nil && !strings.Contains(req.Model, "/") && !slices.Contains(models, req.Model) {
			hint := "pick one of: " + strings.Join(models, ", ")
			if len(models) == 0 {
				hint = "this validator offers no models: its operator must put model directories under its --assets directory"
			}
			return crucible.Errorf(crucible.EINVALID, "unknown model %q", req.Model).WithHint(hint)
		}
		up, err := UploadDataset(ctx, c, cfg.Home, local, errw, IsTerminal(errw))
		if err != nil {
			return err
		}
		if !cfg.JSON {
			fmt.Fprintf(out, "uploaded %s: %d rows, %s (%s)\n", up.Name, up.Rows, up.Format, up.Reason)
			for _, w := range up.Warnings {
				fmt.Fprintf(out, "  warning: %s\n", w)
			}
		}
		req.Dataset = up.Ref()
	}
	est, err := c.Estimate(ctx, req)
	if err != nil {
		return err
	}
	if d := DescribeHints(req.Hints); d != "" && !cfg.JSON {
		fmt.Fprintln(out, d)
	}
	if cfg.Estimate {
		return cfg.Print(out, est, func(w io.Writer) error { PrintEstimate(w, est); return nil })
	}
	created, err := c.CreateTask(ctx, req)
	if err != nil {
		return err
	}
	if cfg.JSON && !cfg.Watch {
		return PrintJSON(out, created)
	}
	if !cfg.JSON {
		PrintEstimate(out, created.Estimate)
		fmt.Fprintf(out, "created task %s (%s)\n", created.Task.ID, created.Task.Status)
	}
	if cfg.Watch {
		return Watch(ctx, c, created.Task.ID, out, cfg.JSON)
	}
	return nil
}

// PrintEstimate writes an estimate as a table, then its warnings.
func PrintEstimate(w io.Writer, e *api.Estimate) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "type\t%s\t%s\n", e.Type, e.Reason)
	m, _ := json.Marshal(e.Mapping)
	fmt.Fprintf(tw, "mapping\t%s\n", m)
	if e.OwnTestSet {
		fmt.Fprintf(tw, "rows\t%d, all to train on; your test set's %d rows are the hidden test\n", e.Rows, e.TestRows)
	} else {
		fmt.Fprintf(tw, "rows\t%d (%d to train on, %d held out)\n", e.Rows, e.TrainRows, e.TestRows)
	}
	fmt.Fprintf(tw, "model\t%s parameters\n", HumanInt(e.ModelParams))
	fmt.Fprintf(tw, "budget\t%.2f h of training, results in about %s\n", e.Hours, e.ETA.Round(time.Second))
	if e.Currency != "" {
		fmt.Fprintf(tw, "price\t%.2f %s (%s)\n", e.Price, e.Currency, e.PriceBasis)
	} else {
		fmt.Fprintf(tw, "price\tnone quoted by this validator (compute: %.3g %s)\n", e.Cost, e.CostUnit)
	}
	fmt.Fprintf(tw, "miners online\t%d, %d of them take this task\n", e.Miners, e.MinersFit)
	tw.Flush()
	for _, warn := range e.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

// PrintTasks writes a task list as a table, with a note when it is one
// page of more.
func PrintTasks(out io.Writer, list *api.TaskList) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tTYPE\tMODEL\tDATASET\tHOURS\tWINNER\tCREATED")
	for _, t := range list.Tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n", t.ID, t.Status, t.Type, t.Model, t.DatasetLabel(),
			t.HoursToComplete, OrDash(t.Winner), t.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list.Total > len(list.Tasks) {
		fmt.Fprintf(out, "(%d of %d; use --limit and --offset for more)\n", len(list.Tasks), list.Total)
	}
	return nil
}

// PrintTask writes one task's fields.
func PrintTask(out io.Writer, t *crucible.Task) error {
	dataset := t.Dataset
	if t.DatasetName != "" && t.DatasetName != t.Dataset {
		dataset = t.DatasetName + " (" + t.Dataset + ")"
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\nstatus\t%s\ntype\t%s\nmodel\t%s (%s parameters)\ndataset\t%s\n", t.ID, t.Status, t.Type, t.Model, HumanInt(t.ModelParamsCount), dataset)
	fmt.Fprintf(tw, "budget\t%.2f h\nrows\t%d train, %d test\nprivate\t%v\ncreated\t%s\n", t.HoursToComplete, t.TrainRows, t.TestRows, t.Private, t.CreatedAt.Local().Format(time.RFC3339))
	if t.Winner != "" {
		fmt.Fprintf(tw, "winner\t%s\n", t.Winner)
	}
	if t.Failure != "" {
		fmt.Fprintf(tw, "failure\t%s\n", t.Failure)
	}
	return tw.Flush()
}

// rankOf is a result's rank column: its rank or "-", starred for the
// winner.
func rankOf(m *api.MinerResult) string {
	rank := "-"
	if m.Rank > 0 {
		rank = fmt.Sprint(m.Rank)
	}
	if m.Winner {
		rank += " *"
	}
	return rank
}

// whyOf is a result's explanation: its failure, else its reason.
func whyOf(m *api.MinerResult) string {
	if m.Failure != "" {
		return m.Failure
	}
	return m.Reason
}

// PrintResults writes a task's results: each miner's test loss, score and
// result hash (a grpo task's: its reward, KL and each reward's mean).
func PrintResults(out io.Writer, res *api.TaskResults) error {
	fmt.Fprintf(out, "task %s: %s", res.Task.ID, res.Task.Status)
	if res.BaseLoss != nil {
		fmt.Fprintf(out, ", base model test loss %.4f", *res.BaseLoss)
	}
	fmt.Fprintln(out)
	if res.Task.Type == crucible.TaskGRPO {
		return printRewardResults(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tMINER\tTEST LOSS\tSCORE\tSHA256\tWHY")
	for _, m := range res.Miners {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rankOf(m), m.Hotkey, fmtPtr(m.TestLoss, "%.4f"), fmtPtr(m.QualityScore, "%g"), OrDash(ShortKey(m.ResultSHA256)), whyOf(m))
	}
	return tw.Flush()
}

// printRewardResults prints a grpo task's results: each miner's score
// (reward less the KL guard; higher is better), reward, KL and each
// reward function's mean.
func printRewardResults(out io.Writer, res *api.TaskResults) error {
	names := make([]string, len(res.Task.Rewards))
	for i, r := range res.Task.Rewards {
		names[i] = strings.ToUpper(r.Name)
	}
	if b := res.BaseReward; b != nil {
		fmt.Fprintf(out, "base model reward %.4f%s\n", b.Reward, partsLine(res.Task.Rewards, b.Parts))
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "RANK\tMINER\tSCORE ↑\tREWARD\tKL\t%s\tQUALITY\tWHY\n", strings.Join(names, "\t"))
	for _, m := range res.Miners {
		score, rw, kl := "-", "-", "-"
		parts := make([]string, len(names))
		for i := range parts {
			parts[i] = "-"
		}
		if r := m.Reward; r != nil {
			score, rw = fmt.Sprintf("%.4f", r.Score), fmt.Sprintf("%.4f", r.Reward)
			if r.KL != nil {
				kl = fmt.Sprintf("%.4f", *r.KL)
			}
			for i := range parts {
				if i < len(r.Parts) {
					parts[i] = fmt.Sprintf("%.3f", r.Parts[i])
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rankOf(m), m.Hotkey, score, rw, kl, strings.Join(parts, "\t"), fmtPtr(m.QualityScore, "%g"), whyOf(m))
	}
	return tw.Flush()
}

// partsLine renders each reward's mean, e.g. " (numeric_answer 0.10, format 0.40)".
func partsLine(rs []crucible.Reward, parts []float64) string {
	var b []string
	for i, p := range parts {
		if i < len(rs) {
			b = append(b, fmt.Sprintf("%s %.3f", rs[i].Name, p))
		}
	}
	if len(b) == 0 {
		return ""
	}
	return " (" + strings.Join(b, ", ") + ")"
}
