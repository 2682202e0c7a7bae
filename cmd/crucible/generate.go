package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/tuning"
)

func init() { register(newGenerateCmd) }

func newGenerateCmd() *cobra.Command {
	var c tuning.GenerateConfig
	config.Defaults(&c)
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
	}
	return cli.Run(cmd, &c, func(ctx context.Context, c *tuning.GenerateConfig) error {
		if err := cli.Require(cmd, "model", "prompt"); err != nil {
			return err
		}
		switch {
		case c.MaxTokens < 1:
			return crucible.Errorf(crucible.EINVALID, "--max-tokens %d: must be at least 1", c.MaxTokens)
		case c.Temperature < 0:
			return crucible.Errorf(crucible.EINVALID, "--temperature %g: must be at least 0 (0 is greedy)", c.Temperature)
		case c.TopP < 0 || c.TopP > 1:
			return crucible.Errorf(crucible.EINVALID, "--top-p %g: must be in [0, 1]", c.TopP)
		case c.Samples < 1 || c.Samples > 256:
			return crucible.Errorf(crucible.EINVALID, "--samples %d: must be from 1 to 256", c.Samples)
		}
		dir, adapter, err := node.FindModelAdapter(c.Model, c.Adapter, cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		c.Adapter = adapter
		raw := c.Raw
		if !cmd.Flags().Changed("raw") {
			// A model crucible trained on instruct or text data never saw a
			// chat template: its prompt is the text itself.
			if d, ok := tuning.RawByDefault(dir, c.Adapter); ok {
				raw = true
				fmt.Fprintf(cmd.ErrOrStderr(), "%s was fine-tuned on %s data without a chat template: using the prompt as is (--raw=false to apply the template)\n",
					d, tuning.TrainedTaskType(d))
			}
		}
		spec := tuning.GenerateSpec{ModelDir: dir, Adapter: c.Adapter, Prompt: c.Prompt, System: c.System,
			Raw: raw, MaxTokens: c.MaxTokens, Temperature: c.Temperature, TopP: c.TopP, Seed: c.Seed}
		if c.Samples > 1 {
			return tuning.WriteSamples(cmd.OutOrStdout(), cmd.ErrOrStderr(), spec, c.Samples)
		}
		w := cmd.OutOrStdout()
		_, err = tuning.Generate(ctx, spec, func(s string) { fmt.Fprint(w, s) })
		fmt.Fprintln(w)
		return err
	})
}
