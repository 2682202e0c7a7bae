// Package bench measures crucible's hot paths on this machine and formats
// the figures: matrix multiplies against the CPU's peak (Gemm), training
// and evaluation speed and memory per model config (Train, each config in
// a child process of the crucible binary), fine-tuning modes and GRPO on a
// demo-sized model (Finetune), tokenizers (Tokenize), bf16 against fp32
// quality (Precision) and the data path on a dataset of any size (Data,
// phases run as child processes of the crucible binary). Each benchmark is
// one function with one Config struct (package config); "crucible bench"
// binds them to its subcommands.
package bench

//go:generate go run github.com/crucible-net/crucible/tools/configdoc
