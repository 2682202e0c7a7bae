package data

import (
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestMappingType(t *testing.T) {
	for _, tt := range []struct {
		m    crucible.ColumnMapping
		want crucible.TaskType
	}{
		{crucible.ColumnMapping{FieldInstruction: "q", FieldOutput: "a"}, crucible.TaskInstruct},
		{crucible.ColumnMapping{ChatColumn: "messages"}, crucible.TaskChat},
		{crucible.ColumnMapping{FieldPrompt: "p", FieldChosen: "c"}, crucible.TaskDPO},
		{crucible.ColumnMapping{FieldPrompt: "p"}, crucible.TaskDPO},
		{crucible.ColumnMapping{FieldPrompt: "p", ExtraColumns: "answer"}, crucible.TaskGRPO},
		{crucible.ColumnMapping{FieldText: "body"}, crucible.TaskText},
	} {
		got, err := MappingType(tt.m)
		if err != nil || got != tt.want {
			t.Errorf("MappingType(%+v) = %q, %v; want %q", tt.m, got, err, tt.want)
		}
	}
	if _, err := MappingType(crucible.ColumnMapping{FieldInstruction: "q", FieldChosen: "c"}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("mixed mapping: %v, want invalid", err)
	}
	if _, err := MappingType(crucible.ColumnMapping{}); err == nil {
		t.Error("empty mapping gave a type")
	}
}
