package main

import (
	"context"
	"fmt"
	"time"

	"github.com/crucible-net/crucible/config/cli"
	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/tuning"
	"github.com/spf13/cobra"
)

func newDataTokenizeCmd() *cobra.Command {
	var (
		cfg     tuning.TokenizeConfig
		mapping crucible.ColumnMapping
	)
	cmd := &cobra.Command{
		Use:   "tokenize --model DIR --data FILE --out FILE",
		Short: "Tokenize a dataset once into a token file any trainer can read",
		Long: `tokenize reads a dataset (any format data check reads), renders every row
with its task's prompt template (or the model's chat template), tokenizes it
with the model's tokenizer, exactly as crucible's training and evaluation do,
and writes a token file: a safetensors file of input_ids (uint16 when the
vocabulary allows, else uint32), a one-bit-per-token loss mask (response
tokens only) and sequence offsets, versioned and checksummed, that numpy or
torch read without crucible (docs/tokens.md). crucible train --tokens and
crucible eval --tokens use it as it is.

It streams: memory stays small whatever the dataset's size, and all cores
tokenize. A bad row stops it with the row's line, and nothing is written.`,
		Example: `  crucible data tokenize --model ./models/tiny --data alpaca.jsonl --out alpaca.tokens.safetensors
  crucible data tokenize --model ./models/tiny --data prefs.csv --type dpo --out prefs.tokens.safetensors --json`,
		Args: cobra.NoArgs,
	}
	addMappingFlags(cmd, &mapping)
	return cli.Run(cmd, &cfg, func(ctx context.Context, cfg *tuning.TokenizeConfig) error {
		if err := cli.Require(cmd, "model", "data", "out"); err != nil {
			return err
		}
		if err := cli.NotNegative(cmd, "max-length"); err != nil {
			return err
		}
		errw := cmd.ErrOrStderr()
		tty := console.IsTerminal(errw)
		var last time.Time
		report, err := tuning.TokenizeData(ctx, cfg, mapping, func(p data.TokenProgress) {
			if tty {
				fmt.Fprintf(errw, "\r\033[Ktokenizing: %s", p)
			} else if time.Since(last) >= 10*time.Second {
				fmt.Fprintf(errw, "tokenizing: %s\n", p)
				last = time.Now()
			}
		})
		if tty {
			fmt.Fprintln(errw)
		}
		if err != nil {
			return err
		}
		if cfg.JSON {
			return console.PrintJSON(cmd.OutOrStdout(), report)
		}
		report.WriteText(cmd.OutOrStdout())
		return nil
	})
}
