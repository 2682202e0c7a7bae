// Package reward scores completions for grpo tasks: built-in reward
// functions (exact and numeric answers, a regular-expression or JSON
// format, a length window, a repetition penalty, ...) and customers' own
// rewards written in Starlark.
//
// A Starlark reward defines reward(prompt, completion, extra) returning a
// number; extra is a dict of the row's extra columns. It runs in a
// sandbox: no load(), no I/O, no clock and no randomness (math, json and
// an RE2 re module are the only predeclared modules), and every call is
// limited to MaxSteps interpreter steps, so the same inputs always give
// the same score or the same error.
//
// Compile turns a task's []crucible.Reward into a Set; Set.Score gives the
// raw value of each reward and their weighted sum (higher is better), and
// Set.Check runs every reward on sample rows with probe completions, so
// that a reward that does not parse, fails at run time, returns something
// other than a finite number, runs past the step limit or needs an extra
// column a row leaves empty is refused when a task is created, with the
// reward's name, the line in its code and the row, rather than failing
// mid-task.
//
// The package knows nothing of models or training: the trainer and the
// evaluator in ml/ take the Set's scoring as a plain function.
package reward
