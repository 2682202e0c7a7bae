// Package nn holds the layer operations of crucible's transformer engine,
// each as an explicit forward and backward function in the style of llm.c:
// linear layers (nn.Linear and GPT-2 Conv1D layouts), token and position
// embeddings, LayerNorm, RMSNorm, GELU, SiLU, SwiGLU, GeGLU, rotary position
// embeddings (Llama 3 and linear frequency scaling, tables from any inverse
// frequencies with an attention factor, partial rotary), causal
// self-attention with grouped-query heads, sliding windows, a score scale and
// soft-capping, decode attention against a KV cache, softmax and a
// cross-entropy loss fused with its gradient.
//
// # Data
//
// Everything is float32 on flat row-major slices. N is the number of token
// rows (B·T for a batch of B sequences of T tokens); C, D, V and friends are
// the widths named in each function's doc. The caller owns every buffer:
// activations, gradients, saved statistics and scratch are allocated once and
// reused on every step. The operations allocate nothing proportional to the
// data: only the few small objects a parallel loop needs (kernel.Gemm, which
// the matrix products go through, has its own small bookkeeping).
//
// The hot loops (exponentials, softmax rows, GELU, SwiGLU, norm rows,
// accumulation) have AVX2+FMA kernels chosen at run time, with portable Go
// versions for other CPUs (and under the purego build tag).
//
// # Conventions
//
// Forward functions overwrite their outputs, except the two that exist to
// add onto a destination (PositionForward adds position embeddings in
// place; LinearForwardAdd adds a scaled branch). Backward functions
// ACCUMULATE:
// every gradient they produce (dx, dweight, dbias, dq, ...) is added (+=) to
// the buffer the caller passes, so the caller zeroes gradient buffers before
// a backward pass (parameter gradients before the first micro-batch of an
// accumulation window). Accumulation is what makes gradient accumulation,
// tied embeddings and residual branches work without extra buffers. A nil
// gradient buffer means "not needed" (a frozen weight, the token input) and
// that gradient is not computed. There are two deliberate, named
// exceptions: CrossEntropy starts the backward pass and overwrites dlogits
// (which may alias the logits, saving a V·N buffer), and
// RoPE.BackwardInPlace rotates a gradient buffer in place.
//
// Shapes are preconditions: inside the engine they are the engine's
// responsibility, and a violation (a slice too short for the shape it is
// given) panics with a message naming the operation and the operand. Values
// that come from outside the engine (token ids, targets, configuration) are
// checked and reported as errors.
//
// # Determinism
//
// For the same inputs and GOMAXPROCS every operation returns bit-identical
// results. Parallel loops (kernel.ParallelFor) only ever write disjoint
// outputs; reductions over rows into a parameter gradient are partitioned
// over the parameter dimension and summed in row order, and the loss is
// summed in float64 in a fixed order. Apart from what the matrix multiplies
// (kernel.Gemm) do, results do not even depend on GOMAXPROCS.
package nn
