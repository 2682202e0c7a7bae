// Package tuning joins crucible's datasets to its training engine: it is
// what the CLI, the miner and the validator call to fine-tune a model on a
// dataset file (Train) and to compute the validator's metric for a
// submission (Evaluate).
//
// Train reads a dataset in any format package data reads, tokenizes it with
// the base model's tokenizer, picks (or takes from a recipe) the training
// setup, trains under a deadline with package train, and writes a Hugging
// Face directory: a full model or a PEFT adapter, the base's tokenizer
// files, a model card (README.md) and training.json recording every choice
// and its reason.
//
// Evaluate loads the base model, checks that a submission is a real
// fine-tune of it (same architecture, an adapter that fits, weights that
// differ), computes the test loss with the base's tokenizer, bit-identical
// on re-runs, and fingerprints the weight delta for near-duplicate
// detection.
package tuning
