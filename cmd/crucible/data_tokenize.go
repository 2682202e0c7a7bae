package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/console"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/tokens"
	"github.com/crucible-net/crucible/tuning"
)

func newDataTokenizeCmd() *cobra.Command {
	var (
		spec            tuning.TokenizeSpec
		typ             string
		mapping         crucible.ColumnMapping
		modelDir, input string
		asJSON          bool
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "model", "data", "out"); err != nil {
				return err
			}
			if err := notNegative(cmd, "max-length"); err != nil {
				return err
			}
			var err error
			if typ != "" {
				if spec.TaskType, err = crucible.ParseTaskType(typ); err != nil {
					return err
				}
			} else if mapping != (crucible.ColumnMapping{}) {
				if spec.TaskType, err = data.MappingType(mapping); err != nil {
					return err
				}
			}
			if mapping != (crucible.ColumnMapping{}) {
				spec.Mapping = &mapping
			}
			if spec.ModelDir, err = (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}).Resolve(modelDir); err != nil {
				return err
			}
			if spec.DataPath, err = hub.ResolveDataset(input); err != nil {
				return err
			}
			if st, err := os.Stat(spec.OutPath); err == nil && st.IsDir() {
				return crucible.Errorf(crucible.EINVALID, "--out %s is a directory", spec.OutPath).WithHint("name the token file to write, e.g. data.tokens.safetensors")
			}
			errw := cmd.ErrOrStderr()
			tty := console.IsTerminal(errw)
			var last time.Time
			spec.Progress = func(p data.TokenProgress) {
				if tty {
					fmt.Fprintf(errw, "\r\033[Ktokenizing: %s", p)
				} else if time.Since(last) >= 10*time.Second {
					fmt.Fprintf(errw, "tokenizing: %s\n", p)
					last = time.Now()
				}
			}
			t0 := time.Now()
			src, meta, err := tuning.Tokenize(cmd.Context(), spec)
			if tty {
				fmt.Fprintln(errw)
			}
			if err != nil {
				return err
			}
			st, err := os.Stat(spec.OutPath)
			if err != nil {
				return err
			}
			report := tokenizeReport{Path: spec.OutPath, Bytes: st.Size(), Meta: meta, Source: src, Seconds: time.Since(t0).Seconds()}
			report.Meta.Source = nil
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			report.print(cmd.OutOrStdout())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelDir, "model", "", "model directory (its tokenizer and context) or cached org/name")
	f.StringVar(&input, "data", "", "dataset file or directory, or cached dataset org/name")
	f.StringVar(&spec.OutPath, "out", "", "token file to write (replaced when it exists)")
	f.StringVar(&typ, "type", "", "task type: instruct, chat, dpo or text (default: detected)")
	addMappingFlags(cmd, &mapping)
	f.IntVar(&spec.MaxLength, "max-length", 0, "tokens per sequence (default: the model's context, at most 1024, as train uses)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// tokenizeReport is what data tokenize prints.
type tokenizeReport struct {
	Path    string            `json:"path"`
	Bytes   int64             `json:"bytes"`
	Meta    tokens.Meta       `json:"meta"`
	Source  *data.TokenSource `json:"source"`
	Seconds float64           `json:"seconds"`
}

func (r tokenizeReport) print(w interface{ Write([]byte) (int, error) }) {
	m, s := r.Meta, r.Source
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-10s %s\n", label, fmt.Sprintf(format, args...))
	}
	line("wrote", "%s (%.1f MB, %s ids, sha256 %s)", r.Path, float64(r.Bytes)/1e6, m.IDType, m.SHA256[:16])
	line("task", "%s", s.TaskType)
	if s.Reason != "" {
		line("", "%s", s.Reason)
	}
	line("rows", "%d read, %d with nothing to learn from", s.Rows, s.Empty)
	kind := "sequences"
	n := m.Sequences
	if m.Kind == tokens.KindPairs {
		kind, n = "pairs", m.Pairs()
	}
	line(kind, "%d (%d truncated to %d tokens, %d dropped with no response left)", n, s.Stats.Truncated, s.MaxLength, s.Stats.Dropped)
	line("tokens", "%d, of which %d count in the loss; longest sequence %d", m.Tokens, m.Counted, m.Longest)
	line("time", "%.1f s", r.Seconds)
}
