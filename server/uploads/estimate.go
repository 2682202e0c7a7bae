package uploads

import (
	"fmt"
	"strings"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// EstimateData fills in the dataset half of an estimate: it settles the
// task type and mapping of the dataset at path with what req gives (the
// given fields win, detection fills in the rest) and counts the rows that
// the split would train on and hold out. The caller adds the model's size,
// the budget, the cost and the miners. A dataset that does not read with
// that mapping is EINVALID, with its first problems in the message.
func EstimateData(path, name string, req api.CreateTaskRequest, split data.SplitOptions) (*api.Estimate, error) {
	var m crucible.ColumnMapping
	if req.Mapping != nil {
		m = *req.Mapping
	}
	rep, err := data.Check(path, data.CheckOptions{Type: req.Type, Mapping: m, Split: split, MaxErrors: 5})
	if err != nil {
		return nil, err
	}
	if !rep.OK() {
		errs := make([]string, len(rep.Errors))
		for i, e := range rep.Errors {
			errs[i] = strings.ReplaceAll(e, path, name)
		}
		more := ""
		if n := rep.ErrorsOmitted + rep.BadRows - len(errs); n > 0 {
			more = fmt.Sprintf("\n… and %d more", n)
		}
		return nil, crucible.Errorf(crucible.EINVALID, "dataset %s does not read as a %s dataset with this mapping:\n%s%s",
			name, orDetected(rep.Type), strings.Join(errs, "\n"), more).
			WithHint("check the column mapping, or leave it out to have it detected")
	}
	if rep.Rows == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "dataset %s has no rows to train on", name)
	}
	return &api.Estimate{
		Type: rep.Type, Mapping: rep.Mapping, Reason: rep.Reason,
		Rows: rep.Rows, TrainRows: rep.Rows - rep.TestRows, TestRows: rep.TestRows,
	}, nil
}

func orDetected(t crucible.TaskType) string {
	if t == "" {
		return "detected"
	}
	return string(t)
}
