package crucible_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestErrorHelpers(t *testing.T) {
	base := crucible.Errorf(crucible.ENOTFOUND, "task %q not found", "t1").WithHint("list tasks with `crucible tasks list`")
	wrapped := fmt.Errorf("load: %w", base)
	if got := crucible.ErrorCode(wrapped); got != crucible.ENOTFOUND {
		t.Errorf("code = %q", got)
	}
	if got := crucible.ErrorMessage(wrapped); got != `task "t1" not found` {
		t.Errorf("message = %q", got)
	}
	if got := crucible.ErrorHint(wrapped); got == "" {
		t.Error("hint lost through wrapping")
	}
	plain := errors.New("disk on fire")
	if crucible.ErrorCode(plain) != crucible.EINTERNAL || crucible.ErrorMessage(plain) != "internal error" {
		t.Error("plain errors must be internal and must not leak their text")
	}
	if crucible.ErrorCode(nil) != "" || crucible.ErrorMessage(nil) != "" {
		t.Error("nil error must have no code")
	}
	cause := errors.New("eof")
	w := crucible.Wrap(cause, crucible.EINVALID, "read %s", "a.jsonl")
	if !errors.Is(w, cause) || w.Error() != "read a.jsonl: eof" {
		t.Errorf("Wrap: %v", w)
	}
}

func TestTaskValidate(t *testing.T) {
	ok := crucible.Task{Type: crucible.TaskInstruct, Model: "m", Dataset: "d"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []crucible.Task{
		{Type: "poem", Model: "m", Dataset: "d"},
		{Type: crucible.TaskChat, Dataset: "d"},
		{Type: crucible.TaskChat, Model: "m"},
		{Type: crucible.TaskText, Model: "m", Dataset: "d", HoursToComplete: -1},
		{Type: crucible.TaskDPO, Model: "m", Dataset: "d", Mapping: &crucible.ColumnMapping{FieldPrompt: "p", FieldChosen: "c"}},
		{Type: crucible.TaskInstruct, Model: "m", Dataset: "d", Mapping: &crucible.ColumnMapping{FieldInstruction: "q"}},
	}
	for i, c := range cases {
		if code := crucible.ErrorCode(c.Validate()); code != crucible.EINVALID {
			t.Errorf("case %d: code %q, want EINVALID", i, code)
		}
	}
	if _, err := crucible.ParseTaskType("dpo"); err != nil {
		t.Error(err)
	}
	if _, err := crucible.ParseTaskType("DPO!"); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Error("ParseTaskType accepted junk")
	}
}

func TestColumnMappingValidateNamesTheField(t *testing.T) {
	tests := []struct {
		typ  crucible.TaskType
		m    crucible.ColumnMapping
		want string
	}{
		{crucible.TaskInstruct, crucible.ColumnMapping{}, "column mapping for an instruct task needs field_instruction"},
		{crucible.TaskInstruct, crucible.ColumnMapping{FieldInstruction: "q"}, "column mapping for an instruct task needs field_output"},
		{crucible.TaskDPO, crucible.ColumnMapping{FieldPrompt: "p"}, "column mapping for a dpo task needs field_chosen"},
		{crucible.TaskChat, crucible.ColumnMapping{}, "column mapping for a chat task needs chat_column"},
	}
	for _, tt := range tests {
		err := tt.m.Validate(tt.typ)
		if crucible.ErrorCode(err) != crucible.EINVALID || err.Error() != tt.want {
			t.Errorf("Validate(%s, %+v) = %v, want %q", tt.typ, tt.m, err, tt.want)
		}
	}
}
