package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newEvalCmd) }

func newEvalCmd() *cobra.Command {
	var (
		modelDir, adapter, base, dataPath, typ string
		tokensPath, tokenCache                 string
		mapping                                crucible.ColumnMapping
		asJSON                                 bool
		maxLen                                 int
	)
	cmd := &cobra.Command{
		Use:   "eval --model DIR --data FILE",
		Short: "Compute a model's test loss on a dataset, as the validator does",
		Long: `eval computes the validator's metric on a dataset with the base model's
tokenizer: the token-weighted mean cross-entropy over response tokens (and
the per-sample mean and perplexity), or for dpo the DPO loss against the base
and the reward accuracy. The result is bit-identical on re-runs.

--model is the base; --adapter evaluates a PEFT adapter (or a full fine-tuned
model directory) over it, with the validator's checks: same architecture, an
adapter that fits, weights that differ from the base. --base evaluates --model
as a fine-tune of another base. A submission that fails the checks prints the
failure and exits with status 1.`,
		Example: `  crucible eval --model ./models/tiny --data test.jsonl
  crucible eval --model ./models/tiny --adapter ./tuned --data test.jsonl --json
  crucible eval --model ./dpo-tuned --base ./models/tiny --data prefs.jsonl --type dpo
  crucible eval --model ./models/tiny --tokens test.tokens.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			required := []string{"model", "data"}
			if tokensPath != "" {
				required = []string{"model"} // the token file is the data
			}
			if err := requireFlags(cmd, required...); err != nil {
				return err
			}
			if err := notNegative(cmd, "max-length"); err != nil {
				return err
			}
			if adapter != "" && base != "" {
				return crucible.Errorf(crucible.EINVALID, "--adapter and --base exclude each other")
			}
			models := hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}
			var err error
			spec := tuning.EvalSpec{Mapping: mapping, MaxLength: maxLen, TokensPath: tokensPath, TokenCache: tokenCache}
			if typ != "" {
				if spec.TaskType, err = crucible.ParseTaskType(typ); err != nil {
					return err
				}
			} else if mapping != (crucible.ColumnMapping{}) {
				if spec.TaskType, err = typeOfMapping(mapping); err != nil {
					return err
				}
			}
			if spec.BaseDir, err = models.Resolve(modelDir); err != nil {
				return err
			}
			switch {
			case adapter != "":
				spec.ModelDir = adapter
			case base != "":
				spec.ModelDir = spec.BaseDir
				if spec.BaseDir, err = models.Resolve(base); err != nil {
					return err
				}
			}
			if dataPath != "" {
				if spec.TestPath, err = (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Dataset}).Resolve(dataPath); err != nil {
					return err
				}
			}
			res, err := tuning.Evaluate(cmd.Context(), spec)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				printEval(w, res)
			}
			if res.Failure != "" {
				return exitError{code: 1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model directory (the base when --adapter is given) or cached org/name")
	f.StringVar(&adapter, "adapter", "", "submission to evaluate over --model: a PEFT adapter or a full model directory")
	f.StringVar(&base, "base", "", "evaluate --model as a fine-tune of this base model")
	f.StringVar(&dataPath, "data", "", "test dataset file or directory")
	f.StringVar(&tokensPath, "tokens", "", "token file of the test split to evaluate instead of tokenizing --data (see crucible data tokenize)")
	f.StringVar(&tokenCache, "token-cache", defaultTokenCacheDir(), "directory where tokenized datasets are kept for the next run (empty: a temporary one)")
	f.StringVar(&typ, "type", "", "task type: instruct, chat, dpo or text (default: detected)")
	addMappingFlags(cmd, &mapping)
	f.IntVar(&maxLen, "max-length", 0, "tokens per sequence (default: the model's context, at most 4096)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func printEval(w interface{ Write([]byte) (int, error) }, r *tuning.EvalResult) {
	if r.Failure != "" {
		fmt.Fprintf(w, "failure: %s\n", r.Failure)
		return
	}
	kind := ""
	if r.IsAdapter {
		kind = " (adapter)"
	}
	if r.RewardAccuracy != 0 || r.Perplexity == 0 {
		fmt.Fprintf(w, "dpo loss        %.6f%s over %d pairs (%d tokens)\n", r.Loss, kind, r.Samples, r.Tokens)
		fmt.Fprintf(w, "reward accuracy %.4f\nreward margin   %.6f\n", r.RewardAccuracy, r.Margin)
		return
	}
	fmt.Fprintf(w, "test loss       %.6f%s (token-weighted, %d tokens)\n", r.Loss, kind, r.Tokens)
	fmt.Fprintf(w, "per-sample mean %.6f (%d samples)\n", r.SampleMean, r.Samples)
	fmt.Fprintf(w, "perplexity      %.4f\n", r.Perplexity)
}
