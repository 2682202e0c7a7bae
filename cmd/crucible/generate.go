package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
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
			tok, err := tokenizer.Load(dir)
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "load tokenizer")
			}
			m, err := model.Load(dir)
			if err != nil {
				return crucible.Wrap(err, crucible.EINVALID, "load model")
			}
			if adapter != "" {
				if err := m.LoadAdapter(adapter); err != nil {
					return crucible.Wrap(err, crucible.EINVALID, "load adapter")
				}
				if err := m.MergeLoRA(); err != nil {
					return err
				}
			}
			if !cmd.Flags().Changed("raw") {
				// A model crucible trained on instruct or text data never saw
				// a chat template: its prompt is the text itself.
				for _, d := range []string{adapter, dir} {
					if t := trainedTaskType(d); t == crucible.TaskInstruct || t == crucible.TaskText {
						raw = true
						fmt.Fprintf(cmd.ErrOrStderr(), "%s was fine-tuned on %s data without a chat template: using the prompt as is (--raw=false to apply the template)\n", d, t)
						break
					}
				}
			}
			text := prompt
			if !raw {
				var msgs []tokenizer.Message
				if system != "" {
					msgs = append(msgs, tokenizer.Message{Role: "system", Content: system})
				}
				msgs = append(msgs, tokenizer.Message{Role: "user", Content: prompt})
				if text, err = tok.ApplyChatTemplate(msgs, true); err != nil {
					return crucible.Wrap(err, crucible.EINVALID, "chat template")
				}
			}
			ids := tok.Encode(text)
			if tok.AddBOS() && (len(ids) == 0 || ids[0] != tok.BOSID()) {
				ids = append([]int{tok.BOSID()}, ids...)
			}
			in := make([]int32, len(ids))
			for i, id := range ids {
				in[i] = int32(id)
			}
			opts := model.GenerateOptions{MaxNewTokens: maxTokens, Temperature: temperature, TopP: topP, Seed: seed, StopTokens: stopTokens(m, tok)}
			w := cmd.OutOrStdout()
			if samples > 1 {
				return generateSamples(cmd, m, tok, in, samples, opts)
			}
			var out []int
			printed := 0
			_, err = m.Generate(in, opts, func(t int32) bool {
				if containsID(opts.StopTokens, t) {
					return true
				}
				out = append(out, int(t))
				s := tok.Decode(out)
				// Hold back an incomplete UTF-8 sequence until its last byte.
				if r, _ := utf8.DecodeLastRuneInString(s); r == utf8.RuneError && len(s) > printed {
					return true
				}
				if len(s) > printed {
					fmt.Fprint(w, s[printed:])
					printed = len(s)
				}
				return true
			})
			if s := tok.Decode(out); len(s) > printed {
				fmt.Fprint(w, s[printed:])
			}
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

// trainedTaskType is the task type of a model directory crucible trained
// (from its training.json), or "".
func trainedTaskType(dir string) crucible.TaskType {
	if dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, tuning.TrainingFile))
	if err != nil {
		return ""
	}
	var rec struct {
		TaskType crucible.TaskType `json:"task_type"`
	}
	if json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.TaskType
}

// stopTokens are the model's EOS ids, the tokenizer's EOS and the ChatML
// end-of-turn token when the vocabulary has it.
func stopTokens(m *model.Model, tok *tokenizer.Tokenizer) []int32 {
	var out []int32
	add := func(id int) {
		if id >= 0 && !containsID(out, int32(id)) {
			out = append(out, int32(id))
		}
	}
	for _, e := range m.Generation.EOS {
		add(e)
	}
	add(tok.EOSID())
	for _, s := range []string{"<|im_end|>", "<|eot_id|>", "<|end|>"} {
		if id, ok := tok.TokenID(s); ok {
			add(id)
		}
	}
	return out
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
