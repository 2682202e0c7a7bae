package auditor

import (
	"fmt"
	"io"
)

// WriteText writes the report as crucible auditor prints it: what was
// read and re-evaluated, the weights compared and set, and every
// discrepancy with where it was found.
func (r *Report) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "results log: %d entries, %d tasks, %d weight vectors\n", r.Entries, r.Tasks, r.WeightSets)
	for _, re := range r.Reevaluated {
		mark := "ok"
		if !re.Match {
			mark = "MISMATCH"
		}
		fmt.Fprintf(w, "re-evaluated %s / %s: logged %.6f, recomputed %.6f  %s\n", re.TaskID, re.Hotkey, re.Logged, re.Recomputed, mark)
	}
	if r.OnChainCosine != nil {
		fmt.Fprintf(w, "on-chain weights vs published: cosine %.4f\n", *r.OnChainCosine)
	}
	if r.WeightsError != "" {
		fmt.Fprintf(w, "could not set the auditor's own weights: %s\n", r.WeightsError)
	} else if r.WeightsBlock > 0 {
		fmt.Fprintf(w, "auditor's own weights set at block %d\n", r.WeightsBlock)
	}
	if r.OK() {
		fmt.Fprintln(w, "no discrepancies")
		return nil
	}
	fmt.Fprintf(w, "%d discrepancies:\n", len(r.Discrepancies))
	for _, d := range r.Discrepancies {
		where := ""
		if d.Seq > 0 {
			where = fmt.Sprintf("entry %d: ", d.Seq)
		}
		if d.TaskID != "" {
			where += "task " + d.TaskID + ": "
		}
		fmt.Fprintf(w, "  %s%s\n", where, d.Message)
	}
	return nil
}
