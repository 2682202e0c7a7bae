package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
)

func init() { register(newTasksCmd) }

// connected binds cfg's settings (which embed console.Conn at conn) to cmd
// and runs run with them, the connection's state directory set.
func connected[C any](cmd *cobra.Command, cfg *C, conn *console.Conn, run func(cmd *cobra.Command, cfg *C, args []string) error) *cobra.Command {
	load := cli.Bind(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		conn.Home = node.Home()
		return run(cmd, cfg, args)
	}
	return cmd
}

// call is a customer command that makes one request and prints its answer:
// get (given the client and the arguments) and text (how to print it
// without --json).
func call[T any](cmd *cobra.Command, get func(context.Context, *api.Client, []string) (T, error), text func(io.Writer, T) error) *cobra.Command {
	var conn console.Conn
	return connected(cmd, &conn, &conn, func(cmd *cobra.Command, conn *console.Conn, args []string) error {
		ctx := cmd.Context()
		c, err := conn.Client()
		if err != nil {
			return err
		}
		v, err := get(ctx, c, args)
		if err != nil {
			return err
		}
		return conn.Print(cmd.OutOrStdout(), v, func(w io.Writer) error { return text(w, v) })
	})
}

func newTasksCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "Create, follow and download fine-tuning tasks on a validator",
		Long: `tasks talks to a validator's customer API: create a task from a model and a
dataset (uploaded from a file, or a dataset in the validator's cache), follow
it live, see each miner's result and download the winning model.

The validator is --server (or CRUCIBLE_SERVER, or the server saved by
"crucible apikeys create --save", default ` + console.DefaultServer + `); the API key is --key
(or CRUCIBLE_API_KEY, or the saved key). A task may be named by the first
characters of its ID (at least four) when no other task of yours starts
with them.`,
		Example: `  crucible tasks create --model crucible-tiny --dataset train.jsonl --watch
  crucible tasks list
  crucible tasks results TASK
  crucible tasks download TASK -o model.tar`,
	}
	show := call(&cobra.Command{Use: "show TASK", Short: "Show a task", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *api.Client, args []string) (*crucible.Task, error) {
			return c.Task(ctx, args[0])
		}, console.PrintTask)
	results := call(&cobra.Command{Use: "results TASK", Short: "Each miner's result: test loss (grpo: reward and its parts), score, why, result hash", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *api.Client, args []string) (*api.TaskResults, error) {
			return c.Results(ctx, args[0])
		}, console.PrintResults)
	cancel := call(&cobra.Command{Use: "cancel TASK", Short: "Cancel a task that has not finished", Args: cobra.ExactArgs(1)},
		func(ctx context.Context, c *api.Client, args []string) (*crucible.Task, error) {
			return c.Cancel(ctx, args[0])
		},
		func(w io.Writer, t *crucible.Task) error { return printf(w, "task %s: %s\n", t.ID, t.Status) })
	cmd.AddCommand(newTasksCreateCmd(), newTasksListCmd(), show, newTasksWatchCmd(), results, newTasksDownloadCmd(), newTasksPushCmd(), cancel)
	return cmd
}

func newTasksCreateCmd() *cobra.Command {
	var cfg console.CreateConfig
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
	}
	rf := addRewardFlags(cmd)
	return connected(cmd, &cfg, &cfg.Conn, func(cmd *cobra.Command, cfg *console.CreateConfig, _ []string) error {
		ctx := cmd.Context()
		if err := cli.Require(cmd, "model", "dataset"); err != nil {
			return err
		}
		if rf.given() {
			var err error
			if cfg.Rewards, _, err = rf.rewards(); err != nil {
				return err
			}
		}
		cfg.LoRAGiven = cmd.Flags().Changed("lora")
		return console.CreateTask(ctx, cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}

// TasksListConfig configures "crucible tasks list". Each field's doc
// comment is its documentation (package config).
type TasksListConfig struct {
	console.Conn
	// Status lists only tasks in these statuses.
	Status []string `flag:"status"`
	// Limit lists at most this many. Defaults to `50`.
	Limit int `flag:"limit"`
	// Offset skips this many.
	Offset int `flag:"offset"`
	// All (admins) lists every account's tasks.
	All bool `flag:"all"`
}

func newTasksListCmd() *cobra.Command {
	var cfg TasksListConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{Use: "list", Short: "List your tasks, newest first", Args: cobra.NoArgs}
	return connected(cmd, &cfg, &cfg.Conn, func(cmd *cobra.Command, cfg *TasksListConfig, _ []string) error {
		ctx := cmd.Context()
		c, err := cfg.Client()
		if err != nil {
			return err
		}
		q := api.TaskQuery{Limit: cfg.Limit, Offset: cfg.Offset, All: cfg.All}
		for _, s := range cfg.Status {
			q.Statuses = append(q.Statuses, crucible.TaskStatus(s))
		}
		list, err := c.Tasks(ctx, q)
		if err != nil {
			return err
		}
		return cfg.Print(cmd.OutOrStdout(), list, func(w io.Writer) error { return console.PrintTasks(w, list) })
	})
}

func newTasksWatchCmd() *cobra.Command {
	var conn console.Conn
	cmd := &cobra.Command{Use: "watch TASK", Short: "Follow a task live: status changes, each miner's progress, results", Args: cobra.ExactArgs(1)}
	return connected(cmd, &conn, &conn, func(cmd *cobra.Command, conn *console.Conn, args []string) error {
		ctx := cmd.Context()
		c, err := conn.Client()
		if err != nil {
			return err
		}
		t, err := c.Task(ctx, args[0]) // the whole ID, when given a prefix
		if err != nil {
			return err
		}
		return console.Watch(ctx, c, t.ID, cmd.OutOrStdout(), conn.JSON)
	})
}

func newTasksDownloadCmd() *cobra.Command {
	var cfg console.DownloadConfig
	config.Defaults(&cfg)
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
	}
	return connected(cmd, &cfg, &cfg.Conn, func(cmd *cobra.Command, cfg *console.DownloadConfig, args []string) error {
		ctx := cmd.Context()
		return console.Download(ctx, cfg, args[0], cmd.OutOrStdout())
	})
}

func newTasksPushCmd() *cobra.Command {
	var cfg console.PushConfig
	cmd := &cobra.Command{
		Use:   "push TASK --repo ORG/NAME",
		Short: "Push a task's winner to a model hub (Hugging Face), with its model card",
		Long: `push downloads the task's winner as "tasks download" does (its weights in
the base's dtype, an adapter naming its base or, with --merged, merged into
it, and the model card) and pushes it to a repository on the hub, creating
the repository when it does not exist, in one commit. The token is HF_TOKEN
(it needs write access) and goes to the hub only; the hub is --endpoint,
else HF_ENDPOINT, else https://huggingface.co. Large files go through the
hub's LFS storage; a push broken off is resumed by running it again: files
the hub already holds are not sent twice.`,
		Example: `  HF_TOKEN=hf_... crucible tasks push 3f2a --repo alice/facts-tiny
  HF_TOKEN=hf_... crucible tasks push 3f2a --repo alice/facts-tiny-merged --merged --private`,
		Args: cobra.ExactArgs(1),
	}
	return connected(cmd, &cfg, &cfg.Conn, func(cmd *cobra.Command, cfg *console.PushConfig, args []string) error {
		ctx := cmd.Context()
		if err := cli.Require(cmd, "repo"); err != nil {
			return err
		}
		return console.Push(ctx, cfg, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
	})
}
