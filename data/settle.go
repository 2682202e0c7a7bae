package data

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Settle decides the task type and column mapping of a dataset from what
// the customer gave and what detection finds: with no type, detection
// decides both; with a type and a complete mapping, nothing is detected;
// with a type and a partial (or empty) mapping, the fields given win and
// detection fills in the rest when it agrees on the type, else the type's
// defaults do. The reason says which happened. Errors are EINVALID.
func Settle(path string, t crucible.TaskType, m crucible.ColumnMapping) (crucible.TaskType, crucible.ColumnMapping, string, error) {
	if t != "" && !t.Valid() {
		return "", m, "", crucible.Errorf(crucible.EINVALID, "unknown task type %q (want instruct, chat, dpo, text or grpo)", t)
	}
	if t != "" && m.Validate(t) == nil {
		return t, m, "", nil
	}
	d, err := detectFileAs(path, t)
	if t == crucible.TaskGRPO && err != nil && m.FieldPrompt == "" && crucible.ErrorCode(err) == crucible.EINVALID {
		var de *Error
		if !errors.As(err, &de) {
			return "", m, "", crucible.Wrap(err, crucible.EINVALID, "%s", path)
		}
	}
	switch {
	case err == nil && (t == "" || t == d.Type):
		if m == (crucible.ColumnMapping{}) {
			return d.Type, d.Mapping, d.Reason, nil
		}
		return d.Type, overlay(d.Mapping, m), d.Reason + "; the mapping given overrides it", nil
	case t != "":
		why := ""
		if err == nil {
			why = fmt.Sprintf(" (detection found %s)", d.Type)
		}
		full := WithDefaults(t, m)
		if verr := full.Validate(t); verr != nil {
			found := "detection could not tell the type"
			if err == nil {
				found = fmt.Sprintf("detection found %s in columns %s", d.Type, strings.Join(d.Columns, ", "))
			}
			return "", m, "", crucible.Errorf(crucible.EINVALID, "%s: %s; %s", path, crucible.ErrorMessage(verr), found).
				WithHint(fmt.Sprintf("name the columns with %s, or leave the type out to use what detection finds", mappingFlags[t]))
		}
		return t, m, fmt.Sprintf("mapping as given with the defaults of a %s task%s", t, why), nil
	}
	var de *Error
	if errors.As(err, &de) {
		return "", m, "", de
	}
	return "", m, "", err
}

// mappingFlags are the command-line flags that name the columns a task type
// cannot do without (chat and text have default columns).
var mappingFlags = map[crucible.TaskType]string{
	crucible.TaskInstruct: "--field-instruction COL --field-output COL",
	crucible.TaskDPO:      "--field-prompt COL --field-chosen COL --field-rejected COL",
	crucible.TaskChat:     "--chat-column COL",
	crucible.TaskText:     "--field-text COL",
	crucible.TaskGRPO:     "--field-prompt COL --extra-columns COL,COL",
}

// overlay returns base with every non-empty field of top copied over it.
func overlay(base, top crucible.ColumnMapping) crucible.ColumnMapping {
	b, tp := reflect.ValueOf(&base).Elem(), reflect.ValueOf(top)
	for i := 0; i < b.NumField(); i++ {
		if s := tp.Field(i).String(); s != "" {
			b.Field(i).SetString(s)
		}
	}
	return base
}
