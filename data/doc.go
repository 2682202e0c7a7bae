// Package data reads fine-tuning datasets and turns them into training
// examples.
//
// Reading: Open (a file, or a directory in Hugging Face dataset layout,
// README.md configs included) gives a Reader of JSON (a top-level array, or
// an object wrapping one), JSON Lines, CSV/TSV and Parquet files, optionally
// gzipped, one row at a time, so a file of any size is read in constant
// memory. Every Row carries its Pos, and every problem is an *Error that
// reads "file:line: field: problem".
//
// Shaping: a Formatter applies a task type (instruct, chat, dpo, text) and
// a Gradients-compatible crucible.ColumnMapping, with Gradients' prompt
// templates and defaults, turning rows into Examples. Detect and DetectFile
// choose the type and mapping from the columns when none is given
// ("zero-click"), and Settle merges what a customer gave with what
// detection finds.
//
// Tokenizing: Tokenize, TokenizePair and their batch forms turn Examples
// into Sequences (ids and labels, IgnoreIndex where a token does not count)
// and preference Pairs; a Packer packs sequences into fixed-length rows.
// *tokenizer.Tokenizer from ml/tokenizer is a Tokenizer; TemplateOf gives
// its chat template.
//
// Preparing: Splitter makes a deterministic train/test split that keeps
// duplicate prompts on one side, Prepare writes the two splits with standard
// column names, TokenizeFile reads a split back ready for training, and
// Check reports on a whole dataset (crucible data check).
//
// Models and datasets are found in, and downloaded into, the local Hugging
// Face cache by the hub subpackage.
package data
