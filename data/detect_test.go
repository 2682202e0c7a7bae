package data

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestDetect(t *testing.T) {
	openai := []any{map[string]any{"role": "system", "content": "s"}, map[string]any{"role": "user", "content": "u"}, map[string]any{"role": "assistant", "content": "a"}}
	sharegpt := []any{map[string]any{"from": "human", "value": "u"}, map[string]any{"from": "gpt", "value": "a"}}
	tests := []struct {
		name    string
		rows    []map[string]any
		typ     crucible.TaskType
		mapping crucible.ColumnMapping
		reason  string // a fragment of the reason
		err     string // a fragment of the error
	}{
		{name: "openai messages", rows: []map[string]any{{"messages": openai, "id": 1.0}},
			typ:     crucible.TaskChat,
			mapping: crucible.ColumnMapping{ChatColumn: "messages", ChatRoleField: "role", ChatContentField: "content", ChatUserRole: "user", ChatAssistRole: "assistant", ChatSystemRole: "system"},
			reason:  "found column messages holding conversations of {role, content} messages with roles system, user, assistant: chat"},
		{name: "sharegpt conversations", rows: []map[string]any{{"conversations": sharegpt}},
			typ:     crucible.TaskChat,
			mapping: crucible.ColumnMapping{ChatColumn: "conversations", ChatRoleField: "from", ChatContentField: "value", ChatUserRole: "human", ChatAssistRole: "gpt", ChatSystemRole: "system"}},
		{name: "conversation as JSON string (CSV)", rows: []map[string]any{{"chat": `[{"role":"user","content":"u"},{"role":"assistant","content":"a"}]`}},
			typ:     crucible.TaskChat,
			mapping: crucible.ColumnMapping{ChatColumn: "chat", ChatRoleField: "role", ChatContentField: "content", ChatUserRole: "user", ChatAssistRole: "assistant", ChatSystemRole: "system"}},
		{name: "alpaca", rows: []map[string]any{{"instruction": "i", "input": "", "output": "o"}, {"instruction": "i", "input": nil, "output": "o"}},
			typ:     crucible.TaskInstruct,
			mapping: crucible.ColumnMapping{FieldInstruction: "instruction", FieldInput: "input", FieldOutput: "output"},
			reason:  `found columns instruction, input, output: instruct with field_instruction=instruction, field_input=input, field_output=output (prompt format "{instruction} {input}", loss on the output only)`},
		{name: "input null in every sampled row", rows: []map[string]any{{"instruction": "i", "input": nil, "output": "o"}},
			typ:     crucible.TaskInstruct,
			mapping: crucible.ColumnMapping{FieldInstruction: "instruction", FieldInput: "input", FieldOutput: "output"}},
		{name: "dolly with context and system", rows: []map[string]any{{"Instruction": "i", "context": "c", "response": "r", "system": "s", "category": "qa"}},
			typ:     crucible.TaskInstruct,
			mapping: crucible.ColumnMapping{FieldInstruction: "Instruction", FieldInput: "context", FieldOutput: "response", FieldSystem: "system"}},
		{name: "prompt completion", rows: []map[string]any{{"prompt": "p", "completion": "c"}},
			typ: crucible.TaskInstruct, mapping: crucible.ColumnMapping{FieldInstruction: "prompt", FieldOutput: "completion"}},
		{name: "question answer", rows: []map[string]any{{"question": "q", "answer": "a", "id": 3.0}},
			typ: crucible.TaskInstruct, mapping: crucible.ColumnMapping{FieldInstruction: "question", FieldOutput: "answer"}},
		{name: "query response", rows: []map[string]any{{"query": "q", "response": "a"}},
			typ: crucible.TaskInstruct, mapping: crucible.ColumnMapping{FieldInstruction: "query", FieldOutput: "response"}},
		{name: "input output", rows: []map[string]any{{"input": "q", "output": "a"}},
			typ: crucible.TaskInstruct, mapping: crucible.ColumnMapping{FieldInstruction: "input", FieldOutput: "output"}},
		{name: "dpo", rows: []map[string]any{{"prompt": "p", "chosen": "c", "rejected": "r"}},
			typ:     crucible.TaskDPO,
			mapping: crucible.ColumnMapping{FieldPrompt: "prompt", FieldChosen: "chosen", FieldRejected: "rejected"},
			reason:  "found columns prompt, chosen, rejected: dpo"},
		{name: "dpo intel style with system", rows: []map[string]any{{"question": "p", "chosen": "c", "rejected": "r", "system": "s"}},
			typ:     crucible.TaskDPO,
			mapping: crucible.ColumnMapping{FieldPrompt: "question", FieldChosen: "chosen", FieldRejected: "rejected", FieldSystem: "system", PromptFormat: "{system} {prompt}"}},
		{name: "text", rows: []map[string]any{{"text": "once", "meta": map[string]any{}}},
			typ: crucible.TaskText, mapping: crucible.ColumnMapping{FieldText: "text"}, reason: "found only the text column text"},
		{name: "nothing usable", rows: []map[string]any{{"a": "x", "b": 1.0}},
			err: "cannot tell the task type from columns a, b"},
		{name: "ambiguous outputs", rows: []map[string]any{{"question": "q", "answer": "a", "response": "r"}},
			err: "ambiguous instruct columns in columns answer, question, response: instruction could be question, output could be response or answer"},
		{name: "chat and instruct", rows: []map[string]any{{"messages": openai, "prompt": "p", "completion": "c"}},
			err: "more than one reading of columns completion, messages, prompt"},
		{name: "numbers are not text", rows: []map[string]any{{"question": 1.0, "answer": 2.0}},
			err: "cannot tell the task type"},
		{name: "chat roles unknown", rows: []map[string]any{{"messages": []any{map[string]any{"role": "customer", "content": "x"}, map[string]any{"role": "agent", "content": "y"}}}},
			err: "found conversation column messages but its roles (customer, agent) do not include both a user and an assistant"},
		{name: "dpo without prompt", rows: []map[string]any{{"chosen": "c", "rejected": "r"}},
			err: "found chosen and rejected but no prompt column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rows []Row
			for i, v := range tt.rows {
				rows = append(rows, Row{Pos: Pos{File: "x.jsonl", Line: i + 1, Row: i}, Values: v})
			}
			d, err := Detect(rows)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || crucible.ErrorCode(err) != crucible.EINVALID {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Type != tt.typ || d.Mapping != tt.mapping {
				t.Errorf("got %s %+v\nwant %s %+v", d.Type, d.Mapping, tt.typ, tt.mapping)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", d.Reason, tt.reason)
			}
			// The detected mapping must work on the rows it came from.
			f, err := NewFormatter(d.Type, d.Mapping)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if _, err := f.Example(r); err != nil {
					t.Errorf("detected mapping fails on its own row: %v", err)
				}
			}
		})
	}
}

func TestDetectFile(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "d.csv", "question,answer\nq1,a1\n\"q2\",a2\n")
	d, err := DetectFile(p, 0)
	if err != nil || d.Type != crucible.TaskInstruct || d.Mapping.FieldInstruction != "question" {
		t.Fatalf("csv: %+v %v", d, err)
	}
	bad := writeFile(t, dir, "bad.jsonl", "{oops\n")
	if _, err := DetectFile(bad, 0); err == nil || !strings.Contains(err.Error(), "no readable rows") || !strings.Contains(err.Error(), filepath.Base(bad)+":1: broken JSON") {
		t.Errorf("unreadable: %v", err)
	}
	empty := writeFile(t, dir, "empty.json", "[]")
	if _, err := DetectFile(empty, 0); err == nil || !strings.Contains(err.Error(), "has no rows") {
		t.Errorf("empty: %v", err)
	}
}

func TestSettle(t *testing.T) {
	path := "testdata/check/alpaca.jsonl"
	full := crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}
	typ, m, reason, err := Settle(path, crucible.TaskInstruct, full)
	if err != nil || typ != crucible.TaskInstruct || m != full || reason != "" {
		t.Errorf("complete mapping: %s %+v %q %v", typ, m, reason, err)
	}
	typ, m, reason, err = Settle(path, "", crucible.ColumnMapping{FieldInput: "output"})
	if err != nil || typ != crucible.TaskInstruct || m.FieldInput != "output" || m.FieldInstruction != "instruction" || !strings.Contains(reason, "overrides") {
		t.Errorf("override: %s %+v %q %v", typ, m, reason, err)
	}
	if _, _, _, err := Settle("testdata/check/nothing.jsonl", "", crucible.ColumnMapping{}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("nothing: %v", err)
	}
	if _, _, _, err := Settle("testdata/check/empty.jsonl", "", crucible.ColumnMapping{}); err == nil || !strings.Contains(err.Error(), "empty.jsonl:1: empty file") {
		t.Errorf("empty: %v", err)
	}
}

// TestSettleTypeWithoutColumns checks that a type given without the columns
// it needs, on a file detection reads as another type, fails in Settle with
// the file, what is missing, what detection found and the flags to pass.
func TestSettleTypeWithoutColumns(t *testing.T) {
	tests := []struct {
		path     string
		typ      crucible.TaskType
		want     []string
		hintFlag string
	}{
		{"testdata/check/alpaca.jsonl", crucible.TaskDPO,
			[]string{"alpaca.jsonl: ", "needs field_prompt", "detection found instruct in columns input, instruction, output"}, "--field-prompt COL"},
		{"testdata/check/dpo.csv", crucible.TaskInstruct,
			[]string{"dpo.csv: ", "for an instruct task needs field_instruction", "detection found dpo"}, "--field-instruction COL --field-output COL"},
		{"testdata/check/nothing.jsonl", crucible.TaskInstruct,
			[]string{"nothing.jsonl: ", "needs field_instruction", "detection could not tell the type"}, "--field-output COL"},
	}
	for _, tt := range tests {
		_, _, _, err := Settle(tt.path, tt.typ, crucible.ColumnMapping{})
		if crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("Settle(%s, %s): %v, want EINVALID", tt.path, tt.typ, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Settle(%s, %s): %v, want %q in it", tt.path, tt.typ, err, w)
			}
		}
		if h := crucible.ErrorHint(err); !strings.Contains(h, tt.hintFlag) {
			t.Errorf("Settle(%s, %s) hint %q, want %q in it", tt.path, tt.typ, h, tt.hintFlag)
		}
	}
	// Chat and text have default columns: the type alone is enough to go on.
	if typ, _, reason, err := Settle("testdata/check/alpaca.jsonl", crucible.TaskText, crucible.ColumnMapping{}); err != nil || typ != crucible.TaskText || !strings.Contains(reason, "detection found instruct") {
		t.Errorf("text over instruct: %s %q %v", typ, reason, err)
	}
}
