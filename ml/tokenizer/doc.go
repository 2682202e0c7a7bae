// Package tokenizer reads Hugging Face tokenizer.json files and turns text into
// token ids and back, without any native dependency.
//
// It covers the tokenizers crucible's models ship with: byte-level BPE (GPT-2,
// Llama 3, Qwen2/2.5/3, SmolLM) and SentencePiece-style BPE with byte fallback
// (Llama 2, Mistral). Added and special tokens are recognised before the text
// is normalised and pre-tokenised, the pre-tokenizer split patterns of those
// families run on hand-written scanners (Go's regexp has no lookahead, and a
// scanner is faster), and chat templates from tokenizer_config.json render with
// a Jinja engine. Train builds a small byte-level BPE tokenizer from text and
// Save writes it in the same format, so crucible's own demo models load with
// the same code as downloaded ones.
//
// A Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer
