package fuzzguard

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A body that returns in time passes; one that hangs brings the test
// binary down with a message naming the test.
func TestWithin(t *testing.T) {
	if os.Getenv("FUZZGUARD_HANG") == "1" {
		Deadline = 100 * time.Millisecond
		Within(t, func() { select {} })
		return
	}
	Within(t, func() {})
	cmd := exec.Command(os.Args[0], "-test.run=^TestWithin$")
	cmd.Env = append(os.Environ(), "FUZZGUARD_HANG=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "TestWithin: one input took longer than 100ms") {
		t.Fatalf("a hanging body: %v\n%s", err, out)
	}
}
