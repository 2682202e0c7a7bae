package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
)

func init() { register(newTasksCmd) }

// defaultServer is the validator a customer command talks to when neither
// --server nor CRUCIBLE_SERVER says otherwise.
const defaultServer = "http://127.0.0.1:8090"

// apiKeyFile is where "crucible apikeys create --save" keeps a key.
func apiKeyFile() string { return filepath.Join(node.Home(), "api_key") }

// apiServerFile is where "crucible apikeys create --save" keeps the URL of
// the validator the saved key belongs to.
func apiServerFile() string { return filepath.Join(node.Home(), "api_server") }

// savedServer returns the validator URL saved with the key, "" when none.
func savedServer() string {
	b, err := os.ReadFile(apiServerFile())
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// customerFlags are the settings every customer command shares.
type customerFlags struct {
	server string
	key    string
	json   bool
}

func (f *customerFlags) bind(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.server, "server", "", "validator URL (default $CRUCIBLE_SERVER, else the server saved with the key, else "+defaultServer+")")
	pf.StringVar(&f.key, "key", "", "API key (default $CRUCIBLE_API_KEY, else the key saved in $CRUCIBLE_HOME/api_key)")
	pf.BoolVar(&f.json, "json", false, "print JSON")
}

// serverURL is the validator to talk to: --server, CRUCIBLE_SERVER, the
// server saved with the key, or the default, in that order.
func (f *customerFlags) serverURL() string {
	for _, s := range []string{f.server, os.Getenv("CRUCIBLE_SERVER"), savedServer()} {
		if s != "" {
			return strings.TrimRight(s, "/")
		}
	}
	return defaultServer
}

// client returns an API client for the flags, the environment or the saved
// key and server files, in that order.
func (f *customerFlags) client() (*api.Client, error) {
	server := f.serverURL()
	key := f.key
	if key == "" {
		key = os.Getenv("CRUCIBLE_API_KEY")
	}
	if key == "" {
		b, err := os.ReadFile(apiKeyFile())
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("read API key: %w", err)
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		return nil, crucible.Errorf(crucible.EUNAUTHORIZED, "no API key").
			WithHint("pass --key, set CRUCIBLE_API_KEY, or save one with: crucible apikeys create --save (the validator prints an admin key on its first start)")
	}
	return api.NewClient(server, key), nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTasksCmd() *cobra.Command {
	var f customerFlags
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Create, follow and download fine-tuning tasks on a validator",
		Long: `tasks talks to a validator's customer API: create a task from a model and a
dataset (uploaded from a file, or a dataset in the validator's cache), follow
it live, see each miner's result and download the winning model.

The validator is --server (or CRUCIBLE_SERVER, or the server saved by
"crucible apikeys create --save", default ` + defaultServer + `); the API key is --key
(or CRUCIBLE_API_KEY, or the saved key). A task may be named by the first
characters of its ID (at least four) when no other task of yours starts
with them.`,
		Example: `  crucible tasks create --model crucible-tiny --dataset train.jsonl --watch
  crucible tasks list
  crucible tasks results TASK
  crucible tasks download TASK -o model.tar`,
	}
	f.bind(cmd)
	cmd.AddCommand(newTasksCreateCmd(&f), newTasksListCmd(&f), newTasksShowCmd(&f), newTasksWatchCmd(&f),
		newTasksResultsCmd(&f), newTasksDownloadCmd(&f), newTasksPushCmd(&f), newTasksCancelCmd(&f))
	return cmd
}

// parseMapping turns "field=column" pairs into a column mapping.
func parseMapping(pairs []string) (*crucible.ColumnMapping, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	vals := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, crucible.Errorf(crucible.EINVALID, "--map %q: want field=column, e.g. field_instruction=question", p)
		}
		vals[k] = v
	}
	b, _ := json.Marshal(vals)
	var m crucible.ColumnMapping
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "--map: %v", err).
			WithHint("fields are field_instruction, field_input, field_output, field_system, chat_column, field_prompt, field_chosen, field_rejected, field_text, ...")
	}
	return &m, nil
}

func newTasksCreateCmd(f *customerFlags) *cobra.Command {
	var req api.CreateTaskRequest
	var typ string
	var pairs []string
	var estimateOnly, watch bool
	var rf *rewardFlags
	hf := &hintFlags{}
	cmd := &cobra.Command{
		Use:   "create --model MODEL --dataset FILE|FOLDER|ORG/NAME",
		Short: "Create a task (uploading the dataset first) and print its estimate",
		Long: `create uploads the dataset when it is on this machine: a file as it is; a
folder of data files (a Hugging Face dataset folder, say) or a dataset in
the local Hugging Face cache (ORG/NAME) read and sent as one JSONL file. A
name found nowhere here is left to the validator's own cache. The validator
checks every row and refuses a file with problems, listing them with line
numbers. create then asks for an estimate (type and column mapping
detected unless given, rows, time budget, cost) and creates the task. --estimate stops after the estimate.
--reward and --reward-file make it a grpo task: the validator runs each
reward on the dataset's first rows and refuses the task if one fails.

--test-dataset brings your own test set (same columns): the winner is chosen
on it instead of on rows split off the dataset, all of which are then
trained on; miners never see it. --lora, --lora-rank, --learning-rate,
--epochs, --batch-size and --max-length are hints passed to every miner:
their strategies may follow them, and the hidden test set still decides.

A file of 64 MiB or more goes up in resumable chunks: after a broken
connection, or when the command is run again (the upload is remembered in
$CRUCIBLE_HOME/uploads), it goes on from the bytes the validator has.`,
		Example: `  crucible tasks create --model crucible-tiny --dataset facts.jsonl --watch
  crucible tasks create --model crucible-tiny --dataset facts.jsonl --test-dataset test.jsonl --lora --learning-rate 2e-4 --estimate
  crucible tasks create --model crucible-tiny --dataset data/ --estimate
  crucible tasks create --model crucible-tiny --dataset arithmetic.jsonl --reward numeric_answer --reward-file format.star`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if req.Type, err = parseOptionalType(typ); err != nil {
				return err
			}
			if req.Mapping, err = parseMapping(pairs); err != nil {
				return err
			}
			if rf.given() {
				if req.Rewards, _, err = rf.rewards(); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			req.Hints = hf.hints(cmd.Flags().Changed)
			if err := req.Hints.Validate(); err != nil {
				return err
			}
			tmp, err := os.MkdirTemp("", "crucible-dataset-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			local, what, err := localDataset(req.Dataset, tmp)
			if err != nil {
				return err
			}
			if what != "" && !f.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "sending %s as one JSONL file\n", what)
			}
			if req.TestDataset != "" {
				testLocal, _, err := localDataset(req.TestDataset, tmp)
				if err != nil {
					return err
				}
				if testLocal != "" {
					up, err := uploadDataset(ctx, c, testLocal, cmd.ErrOrStderr(), isTerminal(cmd.ErrOrStderr()))
					if err != nil {
						return fmt.Errorf("test set: %w", err)
					}
					if !f.json {
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
				errw := cmd.ErrOrStderr()
				up, err := uploadDataset(ctx, c, local, errw, isTerminal(errw))
				if err != nil {
					return err
				}
				if !f.json {
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
			if d := describeHints(req.Hints); d != "" && !f.json {
				fmt.Fprintln(out, d)
			}
			if estimateOnly {
				if f.json {
					return printJSON(out, est)
				}
				printEstimate(out, est)
				return nil
			}
			created, err := c.CreateTask(ctx, req)
			if err != nil {
				return err
			}
			if f.json && !watch {
				return printJSON(out, created)
			}
			if !f.json {
				printEstimate(out, created.Estimate)
				fmt.Fprintf(out, "created task %s (%s)\n", created.Task.ID, created.Task.Status)
			}
			if watch {
				return watchTask(ctx, c, created.Task.ID, out, f.json)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&req.Model, "model", "", "base model (see the dashboard's list, or GET /v1/models)")
	fl.StringVar(&req.Dataset, "dataset", "", "a dataset file to upload, a dataset id in the validator's cache, or upload:ID")
	fl.StringVar(&typ, "type", "", "instruct, chat, dpo, text or grpo (default: detected; grpo with --reward)")
	rf = addRewardFlags(cmd)
	fl.StringSliceVar(&pairs, "map", nil, "column mapping as field=column, repeatable (default: detected)")
	fl.Float64Var(&req.Hours, "hours", 0, "training budget in hours (default: chosen from the dataset's size)")
	fl.BoolVar(&req.Public, "public", false, "every account sees the task, and once it ends its test split and results are published for auditors (tasks are private to your account otherwise)")
	fl.StringVar(&req.Competition, "competition", "", "champion: trained by the tournament champion's miner (the default when there is one); open: every miner competes")
	fl.BoolVar(&estimateOnly, "estimate", false, "print the estimate and stop")
	fl.StringVar(&req.TestDataset, "test-dataset", "", "your own test set (a file, folder or upload:ID; same columns as --dataset): the winner is chosen on it, and every row of --dataset is trained on")
	fl.BoolVar(&hf.lora, "lora", false, "hint: fine-tune with LoRA (--lora=false: in full)")
	fl.IntVar(&hf.h.LoRARank, "lora-rank", 0, "hint: LoRA rank")
	fl.Float64Var(&hf.h.LR, "learning-rate", 0, "hint: peak learning rate")
	fl.Float64Var(&hf.h.Epochs, "epochs", 0, "hint: passes over the data")
	fl.IntVar(&hf.h.BatchSize, "batch-size", 0, "hint: sequences per optimizer step")
	fl.IntVar(&hf.h.MaxLength, "max-length", 0, "hint: tokens per sequence")
	fl.BoolVar(&watch, "watch", false, "follow the task until it finishes")
	cmd.MarkFlagRequired("model")
	cmd.MarkFlagRequired("dataset")
	return cmd
}

func parseOptionalType(s string) (crucible.TaskType, error) {
	if s == "" {
		return "", nil
	}
	return crucible.ParseTaskType(s)
}

func printEstimate(w io.Writer, e *api.Estimate) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "type\t%s\t%s\n", e.Type, e.Reason)
	m, _ := json.Marshal(e.Mapping)
	fmt.Fprintf(tw, "mapping\t%s\n", m)
	fmt.Fprintf(tw, "rows\t%d (%d to train on, %d held out)\n", e.Rows, e.TrainRows, e.TestRows)
	fmt.Fprintf(tw, "model\t%s parameters\n", humanInt(e.ModelParams))
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

// humanInt writes 1234567 as 1.2M.
func humanInt(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func newTasksListCmd(f *customerFlags) *cobra.Command {
	var q api.TaskQuery
	var statuses []string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your tasks, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			for _, s := range statuses {
				q.Statuses = append(q.Statuses, crucible.TaskStatus(s))
			}
			list, err := c.Tasks(cmd.Context(), q)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, list)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tTYPE\tMODEL\tDATASET\tHOURS\tWINNER\tCREATED")
			for _, t := range list.Tasks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\n", t.ID, t.Status, t.Type, t.Model, t.DatasetLabel(),
					t.HoursToComplete, orDash(t.Winner), t.CreatedAt.Local().Format("2006-01-02 15:04"))
			}
			tw.Flush()
			if list.Total > len(list.Tasks) {
				fmt.Fprintf(out, "(%d of %d; use --limit and --offset for more)\n", len(list.Tasks), list.Total)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&statuses, "status", nil, "only tasks in these statuses")
	fl.IntVar(&q.Limit, "limit", 50, "at most this many")
	fl.IntVar(&q.Offset, "offset", 0, "skip this many")
	fl.BoolVar(&q.All, "all", false, "admins: every account's tasks")
	return cmd
}

// datasetLine shows a task's dataset by its name, with the reference the
// API knows it by when that differs.
func datasetLine(t *crucible.Task) string {
	if t.DatasetName != "" && t.DatasetName != t.Dataset {
		return t.DatasetName + " (" + t.Dataset + ")"
	}
	return t.Dataset
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newTasksShowCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show TASK",
		Short: "Show a task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.Task(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, t)
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "id\t%s\nstatus\t%s\ntype\t%s\nmodel\t%s (%s parameters)\ndataset\t%s\n", t.ID, t.Status, t.Type, t.Model, humanInt(t.ModelParamsCount), datasetLine(t))
			fmt.Fprintf(tw, "budget\t%.2f h\nrows\t%d train, %d test\nprivate\t%v\ncreated\t%s\n", t.HoursToComplete, t.TrainRows, t.TestRows, t.Private, t.CreatedAt.Local().Format(time.RFC3339))
			if t.Winner != "" {
				fmt.Fprintf(tw, "winner\t%s\n", t.Winner)
			}
			if t.Failure != "" {
				fmt.Fprintf(tw, "failure\t%s\n", t.Failure)
			}
			return tw.Flush()
		},
	}
}

func newTasksWatchCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "watch TASK",
		Short: "Follow a task live: status changes, each miner's progress, results",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.Task(cmd.Context(), args[0]) // the whole ID, when given a prefix
			if err != nil {
				return err
			}
			return watchTask(cmd.Context(), c, t.ID, cmd.OutOrStdout(), f.json)
		},
	}
}

func shortKey(h string) string {
	if len(h) <= 12 {
		return h
	}
	return h[:5] + "…" + h[len(h)-5:]
}

func newTasksResultsCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "results TASK",
		Short: "Each miner's result: test loss (grpo: reward and its parts), score, why, result hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			res, err := c.Results(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return printJSON(out, res)
			}
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
				rank := "-"
				if m.Rank > 0 {
					rank = fmt.Sprint(m.Rank)
				}
				if m.Winner {
					rank += " *"
				}
				why := m.Reason
				if m.Failure != "" {
					why = m.Failure
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", rank, m.Hotkey, fmtPtr(m.TestLoss, "%.4f"), fmtPtr(m.QualityScore, "%g"), orDash(shortKey(m.ResultSHA256)), why)
			}
			return tw.Flush()
		},
	}
}

func fmtPtr(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func newTasksDownloadCmd(f *customerFlags) *cobra.Command {
	var output, format string
	var merged bool
	cmd := &cobra.Command{
		Use:   "download TASK",
		Short: "Download the winning model as an archive of its Hugging Face directory",
		Long: `download writes the winning model as a tar archive holding one folder,
crucible-TASK (crucible-TASK-merged with --merged): a Hugging Face directory
with its weights in the base model's dtype and a model card (README.md) that
states the base, the data, the metric and the loss against the base's. A
LoRA winner comes as a PEFT adapter whose base_model_name_or_path is the
model the task named; --merged merges it into the base as a full model.`,
		Example: `  crucible tasks download 3f2a
  crucible tasks download 3f2a --merged --format tar.gz`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if format != "tar" && format != "tar.gz" {
				return crucible.Errorf(crucible.EINVALID, "--format %q: want tar or tar.gz", format)
			}
			t, err := c.Task(cmd.Context(), args[0]) // the whole ID, when given a prefix
			if err != nil {
				return err
			}
			args[0] = t.ID
			folder := "crucible-" + args[0]
			if merged {
				folder += "-merged"
			}
			if output == "" {
				output = folder + "." + format
			}
			tmp := output + ".part"
			file, err := os.Create(tmp)
			if err != nil {
				return err
			}
			n, err := c.DownloadWinner(cmd.Context(), args[0], api.DownloadOptions{Format: format, Merged: merged}, file)
			if cerr := file.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(tmp)
				return err
			}
			if err := os.Rename(tmp, output); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"path": output, "bytes": n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%s bytes); unpack with: tar -xf %s (it makes the folder %s)\n", output, humanInt(n), output, folder)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default crucible-TASK.tar, crucible-TASK-merged.tar with --merged)")
	cmd.Flags().StringVar(&format, "format", "tar", "tar or tar.gz")
	cmd.Flags().BoolVar(&merged, "merged", false, "a LoRA winner merged into its base as a full model")
	return cmd
}

func newTasksCancelCmd(f *customerFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel TASK",
		Short: "Cancel a task that has not finished",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			t, err := c.Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "task %s: %s\n", t.ID, t.Status)
			return nil
		},
	}
}
