package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crucible-net/crucible/ml/model"
)

// writeModelCard renders the base model's README.md from its config, its
// pretraining record and the eval step's measurements.
func writeModelCard(o options, rec *evalRecord) error {
	dir := modelDir(o)
	cfg, err := model.ReadConfig(dir)
	if err != nil {
		return err
	}
	p := rec.Pretrain
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# %s\n\n", modelName)
	w("A %.1fM-parameter Llama-architecture language model that crucible trains from scratch on public-domain and\n", float64(p.Params)/1e6)
	w("permissively licensed English text (Jane Austen, Moby Dick, State of the Union addresses, WordNet, fortune\n")
	w("cookies; see assets/README.md). It is the base model of `crucible demo` and of tests: small enough to fine-tune\n")
	w("in minutes on two CPU cores. It knows some English and little else.\n\n")
	w("Rebuilt by `go run ./tools/assets all` (pretraining: `go run ./tools/assets pretrain`).\n\n")
	w("## Architecture\n\n")
	w("| | |\n|---|---|\n")
	w("| architecture | %s (%s) |\n", cfg.Architecture, cfg.ModelType)
	w("| parameters | %d (tied input/output embeddings) |\n", p.Params)
	w("| hidden size / intermediate | %d / %d |\n", cfg.Hidden, cfg.Intermediate)
	w("| layers / heads / KV heads / head dim | %d / %d / %d / %d |\n", cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.HeadDim)
	w("| context | %d tokens (RoPE θ %g) |\n", cfg.MaxPositions, cfg.RopeTheta)
	w("| vocabulary | %d (byte-level BPE, trained by crucible on the same corpus) |\n", cfg.Vocab)
	w("| weights | model.safetensors, bfloat16 |\n")
	w("| special tokens | `<\\|endoftext\\|>` (BOS, EOS, padding), `<\\|im_start\\|>`, `<\\|im_end\\|>` (ChatML template) |\n\n")
	w("## Pretraining\n\n")
	w("crucible's own engine (ml/model forward and backward, ml/optim AdamW), in tools/assets/pretrain.go: random\n")
	w("%d-token windows of the tokenized corpus, %d sequences a step, AdamW (β 0.9/0.95, weight decay 0.1), peak\n", modelContext, pretrainBatch)
	w("learning rate %g after %d warmup steps, cosine decay to a tenth over the wall-clock budget, gradient clipping at 1.\n\n", pretrainLR, warmupSteps)
	w("| | |\n|---|---|\n")
	w("| corpus (train split) | %d tokens |\n", p.CorpusTokens)
	w("| steps | %d |\n", p.Steps)
	w("| training tokens | %d (%.2f epochs) |\n", p.Tokens, float64(p.Tokens)/float64(max(1, p.CorpusTokens)))
	w("| wall time | %.1f min on %d threads (a shared 2-core machine) |\n", p.Seconds/60, p.Threads)
	w("| train loss (last 50 steps) | %.4f |\n", p.TrainLoss)
	w("| **validation loss** (held-out 2%% of paragraphs, %d tokens) | **%.4f** (perplexity %.1f) |\n\n", p.ValTokens, p.ValLoss, exp(p.ValLoss))
	if len(p.Curve) > 0 {
		w("Loss curve (checkpoints):\n\n| step | tokens | minutes | train loss | validation loss |\n|---:|---:|---:|---:|---:|\n")
		for _, c := range p.Curve {
			w("| %d | %d | %.1f | %.4f | %.4f |\n", c.Step, c.Tokens, c.Minutes, c.Train, c.Val)
		}
		w("\n")
	}
	if rec.Base != nil && rec.Tuned != nil {
		w("## Fine-tuning on the facts set\n\n")
		w("Measured by `go run ./tools/assets eval` on %s: assets/datasets/facts.jsonl split as crucible's validator splits it\n", rec.Date[:10])
		w("(%d train rows, %d test rows, seed %d; %s), test loss by crucible's evaluator (`tuning.Evaluate`, response tokens\n", rec.Split.TrainRows, rec.Split.TestRows, o.seed, rec.Split.Type)
		w("only), fine-tuning by crucible's automatic strategy (`tuning.Train`, zero recipe) within %.0f minutes on %d threads.\n\n", rec.TuneMinutes, rec.Threads)
		w("| model | facts test loss | perplexity | scored tokens |\n|---|---:|---:|---:|\n")
		w("| base (%s) | %.4f | %.1f | %d |\n", modelName, rec.Base.Loss, rec.Base.Perplexity, rec.Base.Tokens)
		kind := "full fine-tune"
		if rec.Tune.Adapter {
			kind = "LoRA adapter"
		}
		w("| fine-tuned, automatic (%s, %d steps, %.1f epochs, %s, %.0f s) | %.4f | %.1f | %d |\n", kind, rec.Tune.Steps, rec.Tune.Epochs, rec.Tune.StopReason, rec.Tune.Seconds, rec.Tuned.Loss, rec.Tuned.Perplexity, rec.Tuned.Tokens)
		if rec.Long != nil {
			w("| fine-tuned, automatic but %g epochs (%d steps, %s, %.0f s) | %.4f | %.1f | %d |\n", rec.LongEpoch, rec.LongTune.Steps, rec.LongTune.StopReason, rec.LongTune.Seconds, rec.Long.Loss, rec.Long.Perplexity, rec.Long.Tokens)
		}
		w("\nGreedy answers to test questions (the prompt is the question alone, as crucible formats instruct rows;\n")
		w("other phrasings of some of these facts are in the train split):\n\n")
		w("| question | expected | base | fine-tuned (automatic) | fine-tuned (%g epochs) |\n|---|---|---|---|---|\n", rec.LongEpoch)
		for _, a := range rec.Answers {
			w("| %s | %s | %s | %s | %s |\n", cell(a.Question), cell(a.Expected), cell(a.Base), cell(a.Tuned), cell(a.Long))
		}
		w("\n")
	}
	if len(rec.Text) > 0 {
		w("## Samples from the base model\n\nTemperature 0.8, top-p 0.9, 48 new tokens, fixed seeds:\n\n")
		for _, t := range rec.Text {
			w("- **%s**%s\n", cell(t.Prompt), cell(t.Text))
		}
		w("\n")
	}
	w("## Limits\n\nA few million tokens of pretraining: fluent-looking fragments, no reliable knowledge, no instruction\n")
	w("following before fine-tuning. It exists to make crucible's fine-tuning measurable on a CPU, not to be useful.\n")
	w("\n_Card written %s._\n", time.Now().UTC().Format("2006-01-02"))
	return os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644)
}

// cell makes text safe for a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ⏎ ")
	return s
}

func exp(x float64) float64 { return math.Exp(x) }
