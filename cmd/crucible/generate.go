package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newGenerateCmd) }

func newGenerateCmd() *cobra.Command {
	var (
		modelDir, adapter, prompt, system string
		maxTokens                         int
		temperature, topP                 float64
		seed                              uint64
		raw                               bool
		samples                           int
	)
	cmd := &cobra.Command{
		Use:   "generate --model DIR --prompt TEXT",
		Short: "Generate text from a model, streaming tokens to stdout",
		Long: `generate renders the prompt as a user turn with the model's chat template
(ChatML when it has none), or takes it as is with --raw (the default for a
model crucible fine-tuned on instruct or text data, which saw no template),
and streams the continuation to stdout until an end-of-turn token or
--max-tokens.
Temperature 0 is greedy decoding; sampling is reproducible with --seed.`,
		Example: `  crucible generate --model ./tuned --prompt "What color is the sky?"
  crucible generate --model ./tuned --prompt "Question: Tom has 3 apples and finds 4 more. How many apples does Tom have now?\nAnswer:" --raw --samples 8 --temperature 1
  crucible generate --model ./models/tiny --adapter ./adapter --prompt "Hi" --temperature 0.7 --top-p 0.9 --seed 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "model", "prompt"); err != nil {
				return err
			}
			switch {
			case maxTokens < 1:
				return crucible.Errorf(crucible.EINVALID, "--max-tokens %d: must be at least 1", maxTokens)
			case temperature < 0:
				return crucible.Errorf(crucible.EINVALID, "--temperature %g: must be at least 0 (0 is greedy)", temperature)
			case topP < 0 || topP > 1:
				return crucible.Errorf(crucible.EINVALID, "--top-p %g: must be in [0, 1]", topP)
			case samples < 1 || samples > 256:
				return crucible.Errorf(crucible.EINVALID, "--samples %d: must be from 1 to 256", samples)
			}
			dir, err := (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}).Resolve(modelDir)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("raw") {
				// A model crucible trained on instruct or text data never saw
				// a chat template: its prompt is the text itself.
				if d, ok := tuning.RawByDefault(dir, adapter); ok {
					raw = true
					fmt.Fprintf(cmd.ErrOrStderr(), "%s was fine-tuned on %s data without a chat template: using the prompt as is (--raw=false to apply the template)\n",
						d, tuning.TrainedTaskType(d))
				}
			}
			w := cmd.OutOrStdout()
			spec := tuning.GenerateSpec{ModelDir: dir, Adapter: adapter, Prompt: prompt, System: system,
				Raw: raw, MaxTokens: maxTokens, Temperature: temperature, TopP: topP, Seed: seed}
			if samples > 1 {
				return generateSamples(cmd, spec, samples)
			}
			_, err = tuning.Generate(cmd.Context(), spec, func(s string) { fmt.Fprint(w, s) })
			fmt.Fprintln(w)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model directory (Hugging Face layout) or cached org/name")
	f.StringVar(&adapter, "adapter", "", "PEFT adapter directory to apply")
	f.StringVar(&prompt, "prompt", "", "the user's message")
	f.StringVar(&system, "system", "", "optional system message")
	f.BoolVar(&raw, "raw", false, "use the prompt as is, without the chat template")
	f.IntVar(&maxTokens, "max-tokens", 128, "most tokens to generate")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature; 0 is greedy")
	f.Float64Var(&topP, "top-p", 1, "nucleus sampling: keep the smallest set of tokens with this probability")
	f.Uint64Var(&seed, "seed", 0, "sampling seed")
	f.IntVar(&samples, "samples", 1, "sample this many completions as one batch (printed when all are done, with tokens/s)")
	return cmd
}
