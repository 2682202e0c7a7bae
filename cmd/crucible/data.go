package main

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/reward"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newDataCmd) }

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Check, split and tokenize datasets; fetch models and datasets into the local Hugging Face cache",
	}
	cmd.AddCommand(newDataCheckCmd(), newDataSplitCmd(), newDataTokenizeCmd(), newDataPullCmd(), newDataResolveCmd())
	return cmd
}

// addMappingFlags binds one string flag per ColumnMapping field
// (--field-instruction, --chat-column, ...).
func addMappingFlags(cmd *cobra.Command, m *crucible.ColumnMapping) {
	v := reflect.ValueOf(m).Elem()
	for i := 0; i < v.NumField(); i++ {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		cmd.Flags().StringVar(v.Field(i).Addr().Interface().(*string), strings.ReplaceAll(name, "_", "-"), "", data.MappingHelp[name])
	}
}

func newDataCheckCmd() *cobra.Command {
	var (
		cfg     tuning.DataCheckConfig
		mapping crucible.ColumnMapping
	)
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "check FILE|DIR|org/name",
		Short: "Check a dataset: rows, format, mapping, duplicates, token lengths and every error",
		Long: `check reads a whole dataset (a .json, .jsonl, .csv or .parquet file, a directory
in Hugging Face dataset layout, or a dataset in the local Hugging Face cache)
and reports the number of rows, the task format and column mapping (detected
when --type is not given, with the reason), empty rows, duplicate rows and
prompts, token-length statistics when --tokenizer is given, rows over
--max-length, and every error as file:line: field: problem.

For a grpo dataset, --reward and --reward-file run each reward function on
every row with a few probe completions: a reward that fails, returns no
number, runs past its step limit or needs an extra column the row leaves
empty is an error naming the reward, its line and the row; a prompt over
--max-length tokens is an error too (it leaves no room for a completion).

The exit status is 1 when the dataset has errors.`,
		Example: `  crucible data check train.jsonl
  crucible data check data/ --type instruct --field-instruction question --field-output answer
  crucible data check facts.parquet --tokenizer ./models/smollm --max-length 2048 --json
  crucible data check arithmetic.jsonl --reward numeric_answer --reward-file my_reward.star`,
		Args: cobra.ExactArgs(1),
	}
	addMappingFlags(cmd, &mapping)
	rf := addRewardFlags(cmd)
	return cli.RunArgs(cmd, &cfg, func(cmd *cobra.Command, cfg *tuning.DataCheckConfig, args []string) error {
		var set *reward.Set
		if rf.given() {
			var err error
			if _, set, err = rf.rewards(); err != nil {
				return err
			}
		}
		rep, err := tuning.CheckData(cfg, args[0], mapping, set)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if cfg.JSON {
			if err := console.PrintJSON(out, rep); err != nil {
				return err
			}
		} else {
			var b strings.Builder
			rep.WriteText(&b)
			fmt.Fprint(out, console.ColorReport(b.String(), console.IsTerminal(out)))
		}
		if !rep.OK() {
			return exitError{code: 1}
		}
		return nil
	})
}

func newDataSplitCmd() *cobra.Command {
	var (
		cfg     tuning.DataSplitConfig
		mapping crucible.ColumnMapping
	)
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "split FILE|DIR|org/name",
		Short: "Split a dataset into train.jsonl and test.jsonl the way a validator does",
		Long: `split settles the task type and column mapping (detecting what is not given),
drops rows with nothing to learn from, holds out min(10% of rows, --max-test-rows)
for testing (rows with the same prompt stay on one side; the same file and
--seed give the same split on any machine) and writes OUT/train.jsonl and
OUT/test.jsonl with standard column names. It prints the result, with the
mapping of the written files, as JSON.`,
		Args: cobra.ExactArgs(1),
	}
	addMappingFlags(cmd, &mapping)
	return cli.RunArgs(cmd, &cfg, func(cmd *cobra.Command, cfg *tuning.DataSplitConfig, args []string) error {
		p, err := tuning.SplitData(cfg, args[0], mapping)
		if err != nil {
			return err
		}
		return console.PrintJSON(cmd.OutOrStdout(), p)
	})
}

// DataPullConfig configures "crucible data pull". Each field's doc comment
// is its documentation and states its default (package config).
type DataPullConfig struct {
	DataResolveConfig
	// Include downloads only files matching these globs (repeatable).
	Include []string `flag:"include"`
	// Endpoint is the hub's URL; empty means HF_ENDPOINT, else
	// https://huggingface.co.
	Endpoint string `flag:"endpoint"`
	// Retries resumes an interrupted file this many times. Defaults to `3`.
	Retries int `flag:"retries"`
}

func newDataPullCmd() *cobra.Command {
	var cfg DataPullConfig
	config.Defaults(&cfg)
	cmd := &cobra.Command{
		Use:   "pull org/name[@revision]",
		Short: "Download a model or dataset from a Hugging Face hub into the local cache",
		Long: `pull downloads a repository revision into the Hugging Face cache layout
(blobs + snapshot links, as huggingface_hub writes it), resuming partial files
and checking every file's sha256 or git object id, and prints the snapshot
directory. The hub is HF_ENDPOINT (default https://huggingface.co), the token
HF_TOKEN, the cache HF_HUB_CACHE or HF_HOME/hub. Copy the cache folder to an
offline machine to use it there. For a model, it then says on stderr whether
crucible can train and evaluate it (its architecture and every config key),
and why not.`,
		Example: `  crucible data pull HuggingFaceTB/SmolLM2-135M --include '*.json' --include '*.safetensors'
  crucible data pull Qwen/Qwen3-0.6B --include '*.json' --include '*.safetensors' --include '*.jinja'
  crucible data pull --dataset yahma/alpaca-cleaned`,
		Args: cobra.ExactArgs(1),
	}
	return cli.RunArgs(cmd, &cfg, func(cmd *cobra.Command, cfg *DataPullConfig, args []string) error {
		ref, err := hub.ParseRef(args[0])
		if err != nil {
			return err
		}
		c := hub.NewClient()
		if cfg.Cache != "" {
			c.Cache.Dir = cfg.Cache
		}
		if cfg.Endpoint != "" {
			c.Endpoint = cfg.Endpoint
		}
		c.Retries = cfg.Retries
		errw := cmd.ErrOrStderr()
		bars := console.NewTransfers(errw, console.IsTerminal(errw), "downloading")
		c.Progress = bars.Update
		dir, err := c.Download(cmd.Context(), cfg.kind(), ref, cfg.Include...)
		bars.Close()
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), dir)
		if cfg.kind() == hub.Model {
			tuning.DescribeModel(dir, errw)
		}
		return nil
	})
}

// DataResolveConfig configures "crucible data resolve".
type DataResolveConfig struct {
	// Dataset means the repository is a dataset rather than a model.
	Dataset bool `flag:"dataset"`
	// Cache is the cache directory; empty means HF_HUB_CACHE, HF_HOME/hub
	// or ~/.cache/huggingface/hub.
	Cache string `flag:"cache"`
}

func (c *DataResolveConfig) kind() hub.Kind {
	if c.Dataset {
		return hub.Dataset
	}
	return hub.Model
}

func newDataResolveCmd() *cobra.Command {
	var cfg DataResolveConfig
	cmd := &cobra.Command{
		Use:   "resolve PATH|org/name[@revision]",
		Short: "Print the local directory of a model or dataset (a path, or a snapshot in the Hugging Face cache)",
		Args:  cobra.ExactArgs(1),
	}
	return cli.RunArgs(cmd, &cfg, func(cmd *cobra.Command, cfg *DataResolveConfig, args []string) error {
		r := hub.Resolver{Cache: hub.Cache{Dir: cfg.Cache}, Kind: cfg.kind()}
		if cfg.Cache == "" {
			r.Cache.Dir = hub.DefaultCacheDir()
		}
		dir, err := r.Resolve(args[0])
		if err != nil {
			return err
		}
		return printf(cmd.OutOrStdout(), "%s\n", dir)
	})
}
