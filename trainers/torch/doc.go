// Package torch runs crucible_torch, crucible's PyTorch trainer and
// evaluator (the Python package beside this file), for the machines where
// crucible's own CPU engine is not enough: GPUs, and models of billions of
// parameters.
//
// The Python package is embedded in the crucible binary and extracted into
// a node's state directory (Extract), so a miner or validator needs only a
// Python with PyTorch: Find locates one (a configured interpreter, else
// python3 on PATH, /usr/bin/python3, /usr/local/bin/python3), checks that it
// imports torch, and reports its versions and GPUs. A missing PyTorch is an
// EINVALID error with the fix as its hint.
//
// Runtime.TrainArgv is the miner contract's trainer command (torchrun with
// one process per GPU when there are several); Runtime.Evaluate runs the
// validator's metric in a PyTorch process on a token file (docs/tokens.md)
// and returns the same result crucible's Go evaluator does, with the
// identity (versions, device) of what computed it.
//
// The package imports only the standard library and crucible's domain: the
// node layer adapts it to the miner's Strategy and the validator's
// Evaluator seams.
package torch
