// Package data reads fine-tuning datasets and turns them into training
// examples.
//
// It reads JSON (a top-level array), JSON Lines, CSV and Parquet files, alone
// or as a directory in Hugging Face dataset layout, one row at a time so that
// a file of any size is processed in constant memory. Every row remembers
// where it came from, and every problem is reported as
// "file:line: field: problem".
//
// On top of the readers sit the task formats crucible shares with Gradients
// (instruct, chat, dpo and text, with Gradients' column mapping and prompt
// templates), zero-click format detection, tokenization with loss masks,
// packing, a deterministic train/test split that keeps duplicate prompts on
// one side, and the dataset check behind "crucible data check".
package data
