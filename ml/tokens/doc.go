// Package tokens is crucible's token store: a dataset tokenized once into
// one compact, memory-mapped, checksummed file that training and
// evaluation read by index, so that a dataset of any size is used in
// bounded memory, and that any trainer (crucible's own, or a Python one
// with numpy or torch) reads without crucible's tokenizer or prompt
// templates.
//
// # File format (version 1)
//
// A token store is a valid safetensors file (docs/tokens.md has a reader in
// a few lines of numpy):
//
//	bytes 0..8        little-endian uint64 N = 65528, the header's length
//	bytes 8..65536    the JSON header, padded with spaces (0x20)
//	bytes 65536..     the data buffer: the tensors below, back to back
//
// The header holds three tensors, in this order in the buffer:
//
//	input_ids  U16 or U32 [T]   every sequence's token ids, concatenated; U16
//	                            when the vocabulary has at most 65536 ids
//	loss_mask  U8 [M]           one bit per token (bit t%8 of byte t/8, least
//	                            significant first): 1 where the token counts
//	                            in the loss; M ≥ ⌈T/8⌉, padded with zero bytes
//	                            so that offsets starts 8-byte aligned
//	offsets    I64 [S+1]        sequence s is tokens [offsets[s], offsets[s+1])
//
// and its "__metadata__" holds "format": "crucible-tokens", "version": "1"
// and "crucible": a JSON object (see Meta) with the counts, the vocabulary
// size, the id type, the SHA-256 of the data buffer and what the producer
// recorded about the source (for datasets: task type, rows, tokenizer).
//
// Labels in the Hugging Face sense are input_ids where the mask is 1 and
// -100 elsewhere. A causal model predicts token t (t ≥ 1) of a sequence
// from the tokens before it; the loss is taken where the mask of t is 1.
// The first token of a sequence is never predicted. Preference data (kind
// "pairs") stores pair i as sequence 2i (prompt + chosen answer) and 2i+1
// (prompt + rejected answer), only the answers masked in.
//
// # Writing and reading
//
// A Writer streams sequences into a temporary file beside the destination
// (the mask bits and offsets spill to temporary files), then appends them,
// writes the header with the checksum, syncs and renames: a reader never
// sees a partial store, and Abort leaves nothing behind. Memory stays a
// few megabytes whatever the size.
//
// Open maps a store and checks its header and offsets; Verify re-hashes the
// data and checks every id against the vocabulary. A Store is an
// eval.Source: Seq decodes one sequence from the mapping. Pages read are
// handed back to the kernel as reading goes, so the memory a long run
// keeps stays bounded by what it uses, not by the file's size.
package tokens
