package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
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
		typ       string
		mapping   crucible.ColumnMapping
		tokDir    string
		maxLength int
		asJSON    bool
		maxErrors int
		inputs    bool
		split     data.SplitOptions
		rf        *rewardFlags
	)
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := data.CheckOptions{Mapping: mapping, MaxLength: maxLength, MaxErrors: maxErrors, TrainOnInputs: inputs, Split: split}
			if rf.given() {
				_, set, err := rf.rewards()
				if err != nil {
					return err
				}
				opt.CheckExample = tuning.RewardCheck(set)
				if typ == "" {
					typ = string(crucible.TaskGRPO)
				}
				if typ != string(crucible.TaskGRPO) {
					return crucible.Errorf(crucible.EINVALID, "--reward and --reward-file are for grpo datasets, not --type %s", typ)
				}
			}
			if typ != "" {
				t, err := crucible.ParseTaskType(typ)
				if err != nil {
					return err
				}
				opt.Type = t
			} else if mapping != (crucible.ColumnMapping{}) {
				t, err := data.MappingType(mapping)
				if err != nil {
					return err
				}
				opt.Type = t
			}
			if maxLength > 0 && tokDir == "" {
				return crucible.Errorf(crucible.EINVALID, "--max-length needs --tokenizer to count tokens")
			}
			if tokDir != "" {
				dir, err := hub.ResolveModel(tokDir)
				if err != nil {
					return err
				}
				tok, err := tokenizer.Load(dir)
				if err != nil {
					return crucible.Wrap(err, crucible.EINVALID, "load tokenizer from %s", dir)
				}
				opt.Tokenizer = tok
				opt.ChatTemplate = data.TemplateOf(tok)
			}
			path, err := hub.ResolveDataset(args[0])
			if err != nil {
				return err
			}
			rep, err := data.Check(path, opt)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
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
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "task type: instruct, chat, dpo, text or grpo (default: detected; grpo with --reward)")
	addMappingFlags(cmd, &mapping)
	rf = addRewardFlags(cmd)
	f.StringVar(&tokDir, "tokenizer", "", "tokenizer directory (tokenizer.json) or cached model org/name, for token lengths")
	f.IntVar(&maxLength, "max-length", 0, "count the rows longer than this many tokens (needs --tokenizer)")
	f.BoolVar(&inputs, "train-on-inputs", false, "count prompt tokens in the loss (affects nothing but lengths here)")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.IntVar(&maxErrors, "max-errors", 100, "list at most this many errors; the rest are counted")
	f.IntVar(&split.MinRows, "min-rows", data.DefaultMinRows, "warn when the dataset has fewer rows than a task needs")
	f.IntVar(&split.MaxTestRows, "max-test-rows", data.DefaultMaxTestRows, "cap on the rows the split holds out for testing")
	return cmd
}

func newDataSplitCmd() *cobra.Command {
	var (
		typ     string
		mapping crucible.ColumnMapping
		out     string
		split   data.SplitOptions
		maxBad  int
	)
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
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := data.PrepareOptions{Mapping: mapping, Split: split, MaxBadRows: maxBad}
			if typ != "" {
				t, err := crucible.ParseTaskType(typ)
				if err != nil {
					return err
				}
				opt.Type = t
			}
			path, err := hub.ResolveDataset(args[0])
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			train, err := os.Create(filepath.Join(out, "train.jsonl"))
			if err != nil {
				return err
			}
			defer train.Close()
			test, err := os.Create(filepath.Join(out, "test.jsonl"))
			if err != nil {
				return err
			}
			defer test.Close()
			p, err := data.Prepare(path, opt, train, test)
			if err != nil {
				return err
			}
			if err := train.Close(); err != nil {
				return err
			}
			if err := test.Close(); err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(p)
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "task type: instruct, chat, dpo or text (default: detected)")
	addMappingFlags(cmd, &mapping)
	f.StringVar(&out, "out", ".", "directory to write train.jsonl and test.jsonl into")
	f.Uint64Var(&split.Seed, "seed", 42, "split seed")
	f.IntVar(&split.MinRows, "min-rows", data.DefaultMinRows, "refuse datasets with fewer rows (-1: no minimum)")
	f.IntVar(&split.MaxTestRows, "max-test-rows", data.DefaultMaxTestRows, "cap on the rows held out for testing")
	f.Float64Var(&split.TestFraction, "test-fraction", data.DefaultTestFraction, "share of rows held out for testing")
	f.IntVar(&maxBad, "max-bad-rows", 0, "unreadable rows to drop before giving up")
	return cmd
}

func newDataPullCmd() *cobra.Command {
	var (
		dataset  bool
		include  []string
		cacheDir string
		endpoint string
		retries  int
	)
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
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := hub.ParseRef(args[0])
			if err != nil {
				return err
			}
			c := hub.NewClient()
			if cacheDir != "" {
				c.Cache.Dir = cacheDir
			}
			if endpoint != "" {
				c.Endpoint = endpoint
			}
			c.Retries = retries
			errw := cmd.ErrOrStderr()
			bars := console.NewTransfers(errw, console.IsTerminal(errw), "downloading")
			c.Progress = bars.Update
			kind := hub.Model
			if dataset {
				kind = hub.Dataset
			}
			dir, err := c.Download(cmd.Context(), kind, ref, include...)
			bars.Close()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dir)
			if kind == hub.Model {
				describePulledModel(dir, cmd.ErrOrStderr())
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&dataset, "dataset", false, "the repository is a dataset")
	f.StringArrayVar(&include, "include", nil, "download only files matching this glob (repeatable)")
	f.StringVar(&cacheDir, "cache", "", "cache directory (default HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)")
	f.StringVar(&endpoint, "endpoint", "", "hub URL (default HF_ENDPOINT or https://huggingface.co)")
	f.IntVar(&retries, "retries", 3, "resume an interrupted file this many times")
	return cmd
}

// describePulledModel tells whether crucible can load a downloaded model:
// its architecture and size, the notes on its config, or why not.
func describePulledModel(dir string, w io.Writer) {
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		return // not pulled (--include left it out)
	}
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		fmt.Fprintf(w, "warning: crucible cannot train or evaluate this model: %v\n", err)
		return
	}
	fmt.Fprintf(w, "model: %s (%s family), %.0fM parameters: crucible can train and evaluate it\n",
		cfg.Architecture, cfg.ModelType, float64(model.ParamCount(cfg))/1e6)
	for _, n := range cfg.Notes() {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func newDataResolveCmd() *cobra.Command {
	var (
		dataset  bool
		cacheDir string
	)
	cmd := &cobra.Command{
		Use:   "resolve PATH|org/name[@revision]",
		Short: "Print the local directory of a model or dataset (a path, or a snapshot in the Hugging Face cache)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r := hub.Resolver{Cache: hub.Cache{Dir: cacheDir}, Kind: hub.Model}
			if cacheDir == "" {
				r.Cache.Dir = hub.DefaultCacheDir()
			}
			if dataset {
				r.Kind = hub.Dataset
			}
			dir, err := r.Resolve(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dataset, "dataset", false, "resolve a dataset rather than a model")
	cmd.Flags().StringVar(&cacheDir, "cache", "", "cache directory (default HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)")
	return cmd
}
