// Package fuzzguard gives fuzz targets a deadline per input, so that a
// parser that hangs on some input (a loop that never ends, a length that
// makes it read forever) fails instead of stalling the fuzzer or CI: the
// test binary panics with every goroutine's stack, and the fuzzing engine
// keeps the input that did it in testdata/fuzz.
//
// Every parser fed by a peer or a customer has a fuzz target whose body
// runs inside Within; their seed corpora run in a plain go test.
//
// It imports only the standard library, so that any package's tests may
// use it (ml's included).
package fuzzguard

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// Deadline is how long one input may take: 10 s unless
// CRUCIBLE_FUZZ_DEADLINE (a duration such as 2s) says otherwise. It is
// generous because a seed corpus runs under the race detector on loaded
// machines; a hang is infinitely longer.
var Deadline = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CRUCIBLE_FUZZ_DEADLINE")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}()

// Within runs f, the body of a fuzz target for one input, and panics (with
// every goroutine's stack) when it has not returned after Deadline.
func Within(t testing.TB, f func()) {
	t.Helper()
	timer := time.AfterFunc(Deadline, func() {
		panic(fmt.Sprintf("fuzzguard: %s: one input took longer than %s: the parser hangs on it (the fuzzer keeps it in testdata/fuzz)", t.Name(), Deadline))
	})
	defer timer.Stop()
	f()
}
