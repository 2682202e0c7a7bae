package data

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Message is one turn of a conversation, with its role already mapped to
// "system", "user" or "assistant".
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Roles of chat messages after mapping.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Example is one dataset row put into its task's shape, with the prompt
// templates applied.
type Example struct {
	Pos  Pos
	Type crucible.TaskType
	// Prompt is the formatted prompt of an instruct or dpo row.
	Prompt string
	// Response is the output of an instruct row.
	Response string
	// Chosen and Rejected are the formatted answers of a dpo row.
	Chosen, Rejected string
	// Messages is the conversation of a chat row, or the prompt of a dpo
	// row given as a conversation (then Prompt is empty).
	Messages []Message
	// Text is the document of a text row.
	Text string
	// Extra holds a grpo row's extra columns, for the reward functions.
	Extra map[string]any
}

// PromptKey is the part of an example that identifies what is asked: the
// prompt (instruct, dpo), the conversation before its last assistant turn
// (chat) or the whole text. The split keeps examples with the same
// normalized key on one side.
func (e Example) PromptKey() string {
	switch {
	case e.Type == crucible.TaskDPO && e.Messages != nil:
		return messagesKey(e.Messages)
	case e.Type == crucible.TaskChat:
		last := len(e.Messages)
		for i := len(e.Messages) - 1; i >= 0; i-- {
			if e.Messages[i].Role == RoleAssistant {
				last = i
				break
			}
		}
		return messagesKey(e.Messages[:last])
	case e.Type == crucible.TaskText:
		return e.Text
	}
	return e.Prompt
}

func messagesKey(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Role)
		b.WriteByte('\x00')
		b.WriteString(m.Content)
		b.WriteByte('\x00')
	}
	return b.String()
}

// Empty reports whether the example has nothing to learn from: no response,
// no answers, no assistant turn with content, or no text.
func (e Example) Empty() bool {
	switch e.Type {
	case crucible.TaskInstruct:
		return strings.TrimSpace(e.Response) == ""
	case crucible.TaskDPO:
		return strings.TrimSpace(e.Chosen) == "" && strings.TrimSpace(e.Rejected) == ""
	case crucible.TaskGRPO:
		return strings.TrimSpace(e.Prompt) == ""
	case crucible.TaskChat:
		for _, m := range e.Messages {
			if m.Role == RoleAssistant && strings.TrimSpace(m.Content) != "" {
				return false
			}
		}
		return true
	}
	return strings.TrimSpace(e.Text) == ""
}

// Gradients' defaults for the templates and chat fields.
const (
	DefaultFormatWithInput = "{instruction} {input}"
	DefaultNoInputFormat   = "{instruction}"
	DefaultSystemFormat    = "{system}"
	DefaultPromptFormat    = "{prompt}"
	DefaultChosenFormat    = "{chosen}"
	DefaultRejectedFormat  = "{rejected}"
	DefaultChatColumn      = "conversations"
	DefaultChatRoleField   = "from"
	DefaultChatContent     = "value"
	DefaultFieldText       = "text"
	DefaultFieldPrompt     = "prompt"
)

// WithDefaults returns m with Gradients' defaults filled in for the fields
// task type t uses and leaves empty: format "{instruction} {input}" when an
// input column is mapped and "{instruction}" otherwise, no_input_format
// "{instruction}", system_format "{system}", prompt/chosen/rejected formats
// "{prompt}", "{chosen}", "{rejected}", chat column "conversations" with
// fields "from"/"value" and roles "user"/"assistant"/"system", text column
// "text".
func WithDefaults(t crucible.TaskType, m crucible.ColumnMapping) crucible.ColumnMapping {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	switch t {
	case crucible.TaskInstruct:
		if m.FieldInput != "" {
			def(&m.Format, DefaultFormatWithInput)
		} else {
			def(&m.Format, DefaultNoInputFormat)
		}
		def(&m.NoInputFormat, DefaultNoInputFormat)
		def(&m.SystemFormat, DefaultSystemFormat)
	case crucible.TaskDPO:
		def(&m.PromptFormat, DefaultPromptFormat)
		def(&m.ChosenFormat, DefaultChosenFormat)
		def(&m.RejectedFormat, DefaultRejectedFormat)
	case crucible.TaskGRPO:
		def(&m.FieldPrompt, DefaultFieldPrompt)
		def(&m.PromptFormat, DefaultPromptFormat)
	case crucible.TaskChat:
		def(&m.ChatColumn, DefaultChatColumn)
		def(&m.ChatRoleField, DefaultChatRoleField)
		def(&m.ChatContentField, DefaultChatContent)
		def(&m.ChatUserRole, RoleUser)
		def(&m.ChatAssistRole, RoleAssistant)
		def(&m.ChatSystemRole, RoleSystem)
	case crucible.TaskText:
		def(&m.FieldText, DefaultFieldText)
	}
	return m
}

// Formatter turns rows into examples of one task type under one column
// mapping.
type Formatter struct {
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping // with defaults filled in
}

// NewFormatter checks the mapping for task type t and fills in defaults.
// Returns EINVALID when a column the type needs is not mapped.
func NewFormatter(t crucible.TaskType, m crucible.ColumnMapping) (*Formatter, error) {
	if !t.Valid() {
		return nil, crucible.Errorf(crucible.EINVALID, "unknown task type %q (want instruct, chat, dpo, text or grpo)", t)
	}
	m = WithDefaults(t, m)
	if err := m.Validate(t); err != nil {
		return nil, err
	}
	return &Formatter{Type: t, Mapping: m}, nil
}

// Columns returns the columns every row must have and those it may have.
func (f *Formatter) Columns() (required, optional []string) {
	m := f.Mapping
	add := func(list *[]string, c string) {
		if c != "" {
			*list = append(*list, c)
		}
	}
	switch f.Type {
	case crucible.TaskInstruct:
		add(&required, m.FieldInstruction)
		add(&required, m.FieldOutput)
		add(&optional, m.FieldInput)
		add(&optional, m.FieldSystem)
	case crucible.TaskDPO:
		add(&required, m.FieldPrompt)
		add(&required, m.FieldChosen)
		add(&required, m.FieldRejected)
		add(&optional, m.FieldSystem)
	case crucible.TaskChat:
		add(&required, m.ChatColumn)
	case crucible.TaskText:
		add(&required, m.FieldText)
	case crucible.TaskGRPO:
		add(&required, m.FieldPrompt)
		for _, c := range m.Extras() {
			add(&required, c)
		}
		add(&optional, m.FieldSystem)
	}
	return required, optional
}

// CheckSchema reports a file whose declared columns (CSV header, Parquet
// schema) lack a required column. A nil schema (JSON formats) passes.
func (f *Formatter) CheckSchema(file string, schema []string) error {
	if schema == nil {
		return nil
	}
	have := map[string]bool{}
	for _, c := range schema {
		have[c] = true
	}
	required, _ := f.Columns()
	for _, c := range required {
		if !have[c] {
			return &Error{Pos: Pos{File: file, Line: 1}, Field: c,
				Problem: fmt.Sprintf("no such column in the file's schema (columns are %s)", strings.Join(schema, ", ")), Fatal: true}
		}
	}
	return nil
}

// Example shapes one row. Errors are *Error values naming the row and field.
func (f *Formatter) Example(r Row) (Example, error) {
	ex := Example{Pos: r.Pos, Type: f.Type}
	m := f.Mapping
	var err error
	switch f.Type {
	case crucible.TaskInstruct:
		var instruction, input, system string
		if instruction, err = stringField(r, m.FieldInstruction); err != nil {
			return ex, err
		}
		if ex.Response, err = stringField(r, m.FieldOutput); err != nil {
			return ex, err
		}
		if input, err = optionalStringField(r, m.FieldInput); err != nil {
			return ex, err
		}
		if system, err = optionalStringField(r, m.FieldSystem); err != nil {
			return ex, err
		}
		ex.Prompt = InstructPrompt(m, instruction, input, system)
	case crucible.TaskDPO:
		if err := f.dpo(r, &ex); err != nil {
			return ex, err
		}
	case crucible.TaskChat:
		if ex.Messages, err = f.messages(r); err != nil {
			return ex, err
		}
	case crucible.TaskText:
		if ex.Text, err = stringField(r, m.FieldText); err != nil {
			return ex, err
		}
	case crucible.TaskGRPO:
		if err := f.grpo(r, &ex); err != nil {
			return ex, err
		}
	}
	return ex, nil
}

// InstructPrompt builds an instruct prompt the way Gradients (through
// Axolotl's custom instruct format) does: format when the row has an input,
// no_input_format when it does not, and system_format prepended when the row
// has a system text and the chosen template does not place {system} itself.
func InstructPrompt(m crucible.ColumnMapping, instruction, input, system string) string {
	m = WithDefaults(crucible.TaskInstruct, m)
	tmpl := m.NoInputFormat
	if input != "" {
		tmpl = m.Format
	}
	vars := map[string]string{"instruction": instruction, "input": input, "system": system}
	prompt := fill(tmpl, vars)
	if system != "" && !strings.Contains(tmpl, "{system}") {
		prompt = fill(m.SystemFormat, vars) + prompt
	}
	return prompt
}

// fill replaces {name} placeholders with their values, as Python's
// str.format does for the names it is given: "{{" and "}}" stand for
// literal braces, and unknown names are left as they are (Python would
// fail on them).
func fill(tmpl string, vars map[string]string) string {
	if !strings.ContainsAny(tmpl, "{}") {
		return tmpl
	}
	var b strings.Builder
	for i := 0; i < len(tmpl); {
		c := tmpl[i]
		switch {
		case (c == '{' || c == '}') && i+1 < len(tmpl) && tmpl[i+1] == c:
			b.WriteByte(c)
			i += 2
			continue
		case c == '{':
			if j := strings.IndexByte(tmpl[i:], '}'); j > 0 {
				if v, ok := vars[tmpl[i+1:i+j]]; ok {
					b.WriteString(v)
					i += j + 1
					continue
				}
			}
		}
		b.WriteByte(c)
		i++
	}
	return b.String()
}

// messages reads and maps the conversation of a chat row. A column holding a
// JSON string (as CSV files must) is decoded first.
func (f *Formatter) messages(r Row) ([]Message, error) {
	m := f.Mapping
	col := m.ChatColumn
	v, ok := r.Values[col]
	if !ok {
		return nil, errorf(r.Pos, col, "missing (columns are %s)", strings.Join(r.Columns(), ", "))
	}
	msgs, err := parseMessages(r.Pos, col, v, m.ChatRoleField, m.ChatContentField,
		map[string]string{m.ChatUserRole: RoleUser, m.ChatAssistRole: RoleAssistant, m.ChatSystemRole: RoleSystem})
	if err != nil {
		return nil, err
	}
	hasAssistant := false
	for _, msg := range msgs {
		hasAssistant = hasAssistant || msg.Role == RoleAssistant
	}
	if !hasAssistant {
		return nil, errorf(r.Pos, col, "conversation has no %q message to learn from", m.ChatAssistRole)
	}
	return msgs, nil
}

// isMessageList reports whether a value is a list (or a JSON string
// holding one) rather than plain text.
func isMessageList(v any) bool {
	switch x := v.(type) {
	case []any:
		return true
	case string:
		return strings.HasPrefix(strings.TrimSpace(x), "[{")
	}
	return false
}

// parseMessages reads a list of message objects, mapping their role values
// through roles.
func parseMessages(pos Pos, col string, v any, roleField, contentField string, roles map[string]string) ([]Message, error) {
	if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "[") {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, errorf(pos, col, "broken JSON in a conversation string: %s", jsonProblem(err))
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errorf(pos, col, "expected a list of messages, found %s", typeName(v))
	}
	var refs []string
	for _, want := range []string{RoleUser, RoleAssistant, RoleSystem} {
		for ref, mapped := range roles {
			if mapped == want {
				refs = append(refs, fmt.Sprintf("%q (%s)", ref, want))
			}
		}
	}
	msgs := make([]Message, 0, len(list))
	for i, e := range list {
		field := fmt.Sprintf("%s[%d]", col, i)
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, errorf(pos, field, "expected a message object, found %s", typeName(e))
		}
		rv, ok := obj[roleField]
		if !ok {
			return nil, errorf(pos, field+"."+roleField, "missing (message fields are %s)", strings.Join(Row{Values: obj}.Columns(), ", "))
		}
		role, err := asString(pos, field+"."+roleField, rv)
		if err != nil {
			return nil, err
		}
		mapped, ok := roles[role]
		if !ok {
			return nil, errorf(pos, field+"."+roleField, "role %q is none of %s", role, strings.Join(refs, ", "))
		}
		cv, ok := obj[contentField]
		if !ok {
			return nil, errorf(pos, field+"."+contentField, "missing (message fields are %s)", strings.Join(Row{Values: obj}.Columns(), ", "))
		}
		content, err := messageContent(pos, field+"."+contentField, cv)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, Message{Role: mapped, Content: content})
	}
	return msgs, nil
}

// messageContent reads a message's content: a string, or a list of parts
// in the OpenAI style ([{"type": "text", "text": "..."}]) whose text parts
// are joined. Other part types (images, audio) are an error: crucible
// trains text models.
func messageContent(pos Pos, field string, v any) (string, error) {
	parts, ok := v.([]any)
	if !ok {
		return asString(pos, field, v)
	}
	var b strings.Builder
	for i, p := range parts {
		obj, ok := p.(map[string]any)
		if !ok {
			return "", errorf(pos, fmt.Sprintf("%s[%d]", field, i), "expected a content part object, found %s", typeName(p))
		}
		if typ, _ := obj["type"].(string); typ != "text" {
			return "", errorf(pos, fmt.Sprintf("%s[%d]", field, i), "content part of type %q; only text parts can be trained on", typ)
		}
		text, err := asString(pos, fmt.Sprintf("%s[%d].text", field, i), obj["text"])
		if err != nil {
			return "", err
		}
		b.WriteString(text)
	}
	return b.String(), nil
}
