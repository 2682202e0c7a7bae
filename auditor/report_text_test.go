package auditor

import (
	"bytes"
	"strings"
	"testing"
)

func TestReportText(t *testing.T) {
	var b bytes.Buffer
	r := &Report{Entries: 3, Tasks: 2, WeightSets: 1, WeightsBlock: 12}
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "3 entries, 2 tasks, 1 weight vectors") ||
		!strings.Contains(b.String(), "set at block 12") || !strings.HasSuffix(b.String(), "no discrepancies\n") {
		t.Fatalf("clean report %q %v", b.String(), err)
	}
	b.Reset()
	r.Discrepancies = append(r.Discrepancies, Discrepancy{Seq: 2, TaskID: "t1", Message: "loss differs"})
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), "1 discrepancies:\n  entry 2: task t1: loss differs\n") {
		t.Fatalf("report with a discrepancy %q %v", b.String(), err)
	}
}
