package data

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func row(values map[string]any) Row {
	return Row{Pos: Pos{File: "d.jsonl", Line: 7, Row: 6}, Values: values}
}

func TestFormatterExamples(t *testing.T) {
	msgs := []any{
		map[string]any{"from": "system", "value": "Be brief."},
		map[string]any{"from": "human", "value": "Hi"},
		map[string]any{"from": "gpt", "value": "Hello"},
	}
	tests := []struct {
		name string
		typ  crucible.TaskType
		m    crucible.ColumnMapping
		row  map[string]any
		want Example
	}{
		{"instruct default with input", crucible.TaskInstruct,
			crucible.ColumnMapping{FieldInstruction: "instruction", FieldInput: "input", FieldOutput: "output"},
			map[string]any{"instruction": "Add", "input": "2 2", "output": "4"},
			Example{Prompt: "Add 2 2", Response: "4"}},
		{"instruct empty input uses no_input_format", crucible.TaskInstruct,
			crucible.ColumnMapping{FieldInstruction: "instruction", FieldInput: "input", FieldOutput: "output"},
			map[string]any{"instruction": "Add", "input": nil, "output": "4"},
			Example{Prompt: "Add", Response: "4"}},
		{"instruct custom formats and system", crucible.TaskInstruct,
			crucible.ColumnMapping{FieldInstruction: "q", FieldInput: "ctx", FieldOutput: "a", FieldSystem: "sys",
				Format: "### Q: {instruction}\n### Context: {input}\n### A: ", NoInputFormat: "### Q: {instruction}\n### A: ",
				SystemFormat: "<<{system}>>\n"},
			map[string]any{"q": "Why?", "ctx": "", "a": "Because.", "sys": "Be kind"},
			Example{Prompt: "<<Be kind>>\n### Q: Why?\n### A: ", Response: "Because."}},
		{"instruct system placed by the format", crucible.TaskInstruct,
			crucible.ColumnMapping{FieldInstruction: "q", FieldOutput: "a", FieldSystem: "sys", NoInputFormat: "[{system}] {instruction} {unknown}"},
			map[string]any{"q": "Why?", "a": "x", "sys": "S"},
			Example{Prompt: "[S] Why? {unknown}", Response: "x"}},
		{"dpo formats", crucible.TaskDPO,
			crucible.ColumnMapping{FieldPrompt: "p", FieldChosen: "c", FieldRejected: "r", FieldSystem: "s", PromptFormat: "{system} {prompt}"},
			map[string]any{"p": "Pick", "c": "good", "r": "bad", "s": "SYS"},
			Example{Prompt: "SYS Pick", Chosen: "good", Rejected: "bad"}},
		{"chat sharegpt", crucible.TaskChat,
			crucible.ColumnMapping{ChatUserRole: "human", ChatAssistRole: "gpt"},
			map[string]any{"conversations": msgs},
			Example{Messages: []Message{{"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello"}}}},
		{"chat as a JSON string (CSV)", crucible.TaskChat,
			crucible.ColumnMapping{ChatColumn: "messages", ChatRoleField: "role", ChatContentField: "content"},
			map[string]any{"messages": `[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]`},
			Example{Messages: []Message{{"user", "a"}, {"assistant", "b"}}}},
		{"chat with OpenAI content parts", crucible.TaskChat,
			crucible.ColumnMapping{ChatColumn: "messages", ChatRoleField: "role", ChatContentField: "content"},
			map[string]any{"messages": []any{
				map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Hello "}, map[string]any{"type": "text", "text": "there"}}},
				map[string]any{"role": "assistant", "content": "Hi"}}},
			Example{Messages: []Message{{"user", "Hello there"}, {"assistant", "Hi"}}}},
		{"text", crucible.TaskText, crucible.ColumnMapping{},
			map[string]any{"text": "Once upon a time"},
			Example{Text: "Once upon a time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFormatter(tt.typ, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.Example(row(tt.row))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Pos, tt.want.Type = got.Pos, tt.typ
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFormatterErrors(t *testing.T) {
	instruct := crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}
	chat := crucible.ColumnMapping{ChatColumn: "messages", ChatRoleField: "role", ChatContentField: "content"}
	tests := []struct {
		name string
		typ  crucible.TaskType
		m    crucible.ColumnMapping
		row  map[string]any
		want string
	}{
		{"missing field", crucible.TaskInstruct, instruct, map[string]any{"instruction": "x", "answer": "y"},
			"d.jsonl:7: output: missing (columns are answer, instruction)"},
		{"number where a string is expected", crucible.TaskInstruct, instruct, map[string]any{"instruction": 3.0, "output": "y"},
			"d.jsonl:7: instruction: expected a string, found a number"},
		{"object where a list is expected", crucible.TaskChat, chat, map[string]any{"messages": map[string]any{"role": "user"}},
			"d.jsonl:7: messages: expected a list of messages, found an object"},
		{"message not an object", crucible.TaskChat, chat, map[string]any{"messages": []any{"hi"}},
			"d.jsonl:7: messages[0]: expected a message object, found a string"},
		{"message without role", crucible.TaskChat, chat, map[string]any{"messages": []any{map[string]any{"content": "x"}}},
			"d.jsonl:7: messages[0].role: missing (message fields are content)"},
		{"unknown role", crucible.TaskChat, chat, map[string]any{"messages": []any{map[string]any{"role": "bot", "content": "x"}}},
			`d.jsonl:7: messages[0].role: role "bot" is none of "user" (user), "assistant" (assistant), "system" (system)`},
		{"content of the wrong type", crucible.TaskChat, chat, map[string]any{"messages": []any{map[string]any{"role": "user", "content": 3.0}}},
			"d.jsonl:7: messages[0].content: expected a string, found a number"},
		{"image content part", crucible.TaskChat, chat, map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url"}}}}},
			`d.jsonl:7: messages[0].content[0]: content part of type "image_url"; only text parts can be trained on`},
		{"no assistant turn", crucible.TaskChat, chat, map[string]any{"messages": []any{map[string]any{"role": "user", "content": "x"}}},
			`d.jsonl:7: messages: conversation has no "assistant" message to learn from`},
		{"broken conversation string", crucible.TaskChat, chat, map[string]any{"messages": "[{"},
			"d.jsonl:7: messages: broken JSON in a conversation string: unexpected end of JSON input"},
		{"dpo boolean", crucible.TaskDPO, crucible.ColumnMapping{FieldPrompt: "p", FieldChosen: "c", FieldRejected: "r"},
			map[string]any{"p": "x", "c": true, "r": "z"}, "d.jsonl:7: c: expected a string, found a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFormatter(tt.typ, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Example(row(tt.row))
			var de *Error
			if !errors.As(err, &de) || err.Error() != tt.want {
				t.Errorf("got %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestFormatterMapping(t *testing.T) {
	if _, err := NewFormatter(crucible.TaskInstruct, crucible.ColumnMapping{FieldInstruction: "q"}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("instruct without output: %v", err)
	}
	if _, err := NewFormatter("poetry", crucible.ColumnMapping{}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("unknown type: %v", err)
	}
	f, err := NewFormatter(crucible.TaskDPO, crucible.ColumnMapping{FieldPrompt: "p", FieldChosen: "c", FieldRejected: "r"})
	if err != nil {
		t.Fatal(err)
	}
	err = f.CheckSchema("x.parquet", []string{"p", "c", "answer"})
	if err == nil || err.Error() != "x.parquet:1: r: no such column in the file's schema (columns are p, c, answer)" {
		t.Errorf("schema check: %v", err)
	}
	if err := f.CheckSchema("x.jsonl", nil); err != nil {
		t.Errorf("no schema: %v", err)
	}
	if got := WithDefaults(crucible.TaskChat, crucible.ColumnMapping{}); got.ChatColumn != "conversations" || got.ChatRoleField != "from" || got.ChatContentField != "value" {
		t.Errorf("chat defaults %+v", got)
	}
}

func TestFill(t *testing.T) {
	vars := map[string]string{"instruction": "I", "input": "{x}"}
	for tmpl, want := range map[string]string{
		"{instruction} {input}":      "I {x}",
		"{{literal}} {instruction}":  "{literal} I",
		"{unknown} {instruction":     "{unknown} {instruction",
		"}} {{":                      "} {",
		"plain":                      "plain",
		"{instruction}{instruction}": "II",
	} {
		if got := fill(tmpl, vars); got != want {
			t.Errorf("fill(%q) = %q, want %q", tmpl, got, want)
		}
	}
}

func TestPromptKeyAndEmpty(t *testing.T) {
	chat := Example{Type: crucible.TaskChat, Messages: []Message{{"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", " "}}}
	if got := chat.PromptKey(); !strings.Contains(got, "c") || strings.Contains(got, " \x00") {
		t.Errorf("chat prompt key %q", got)
	}
	if chat.Empty() {
		t.Error("chat with an answer is empty")
	}
	if !(Example{Type: crucible.TaskInstruct, Prompt: "x", Response: "  "}).Empty() {
		t.Error("instruct without response is not empty")
	}
}
