// Package tokenizer reads Hugging Face tokenizer.json files and turns text into
// token ids and back, without any native dependency.
//
// It covers the tokenizers of the model families crucible trains: byte-level
// BPE (GPT-2, Llama 3.x, Qwen2/2.5/3, SmolLM2/3, Phi-4-mini's o200k, Mistral's
// Tekken) and SentencePiece-style BPE with byte fallback (Llama 2, Mistral,
// Mixtral, Phi-3, Gemma 2/3). None of these families uses a Unigram model. The
// pipeline is the reference one:
//
//   - added tokens (normalized false) are cut out of the raw text first,
//     leftmost-longest, honouring lstrip, rstrip and single_word;
//   - each remaining stretch is normalised (NFC/NFD/NFKC/NFKD, Lowercase,
//     Strip, Prepend, Replace), then added tokens marked normalized are cut
//     out of the normalised text;
//   - the pre-tokenizer (ByteLevel, Split with every delimiter behavior and
//     invert, Metaspace, Digits, Sequence) cuts the rest into pieces; the
//     split patterns of GPT-2, Llama 3 and Qwen2 run on hand-written scanners
//     (Go's regexp has no lookahead, and a scanner is faster), other patterns
//     on a backtracking regex engine;
//   - BPE merges each piece (lowest rank first), with byte fallback, unk
//     fusing and ignore_merges; recent pieces are cached.
//
// Decoding runs the decoder chain (ByteLevel, Replace, ByteFallback, Fuse,
// Strip, Metaspace). For byte-level models Decode returns the exact bytes, so
// Decode(Encode(s)) == s for every s, invalid UTF-8 included (the reference
// would replace invalid bytes with U+FFFD); clean_up_tokenization_spaces is
// never applied.
//
// Anything else in a tokenizer.json (WordPiece or Unigram models, other
// normalizers, pre-tokenizers or decoders) is refused with an error naming
// the field, rather than tokenised differently from the reference.
//
// Chat templates from tokenizer_config.json render with a Jinja engine;
// models without one get ChatML. Train builds a small byte-level BPE tokenizer
// from text and Save writes it in the Hugging Face format, so crucible's own
// demo models load with the same code as downloaded ones.
//
// A Tokenizer is immutable after loading and safe for concurrent use.
package tokenizer
