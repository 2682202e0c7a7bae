package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Detection is the outcome of zero-click format detection: the task type,
// the column mapping and why.
type Detection struct {
	Type    crucible.TaskType      `json:"type"`
	Mapping crucible.ColumnMapping `json:"mapping"`
	Reason  string                 `json:"reason"`
	Columns []string               `json:"columns"` // every column seen in the sample
}

// DefaultDetectSample is how many rows detection looks at.
const DefaultDetectSample = 100

// Column names detection knows, in order of preference.
var (
	chatColumns        = []string{"messages", "conversations", "conversation", "chat", "dialog", "dialogue"}
	instructionColumns = []string{"instruction", "instruct", "prompt", "question", "query", "problem", "input"}
	outputColumns      = []string{"output", "response", "completion", "answer", "solution", "target"}
	contextColumns     = []string{"input", "context"}
	systemColumns      = []string{"system", "system_prompt"}
	chosenColumns      = []string{"chosen", "chosen_response", "preferred"}
	rejectedColumns    = []string{"rejected", "rejected_response", "dispreferred"}
	promptColumns      = []string{"prompt", "question", "instruction", "query", "input"}
	textColumns        = []string{"text", "content", "document", "body"}

	userRoles      = []string{"user", "human", "prompter", "customer"}
	assistantRoles = []string{"assistant", "gpt", "bot", "model", "chatbot", "ai"}
	systemRoles    = []string{"system"}
)

// DetectFile detects the format of a dataset file or directory from its
// first rows (sample of them; 0 means DefaultDetectSample). Rows that fail
// to read are skipped; a file with no readable row is an error.
func DetectFile(path string, sample int) (*Detection, error) {
	if sample <= 0 {
		sample = DefaultDetectSample
	}
	r, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rows []Row
	var firstErr error
	for len(rows) < sample {
		row, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				return nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		if firstErr != nil {
			return nil, crucible.Wrap(firstErr, crucible.EINVALID, "detect the format of %s: no readable rows", path)
		}
		return nil, crucible.Errorf(crucible.EINVALID, "detect the format of %s: the dataset has no rows", path)
	}
	return Detect(rows)
}

// columnStats summarises one column over the sample.
type columnStats struct {
	name     string
	strings  int       // rows holding a string
	others   int       // rows holding something else than a string or null
	messages int       // rows holding a list of message objects
	keys     [2]string // role and content field names of the messages
	roles    []string  // distinct role values seen
	roleSet  map[string]bool
}

// Detect picks the task type and column mapping that fit a sample of rows:
// a conversation column (OpenAI messages [{role, content}] or ShareGPT
// conversations [{from, value}]), prompt/chosen/rejected, an
// instruction/output pair (with aliases such as question/answer,
// prompt/completion, query/response, input/output, and optional input and
// system columns), or a text column. It returns EINVALID, listing the
// columns seen, when nothing fits or when more than one reading does.
func Detect(rows []Row) (*Detection, error) {
	stats := map[string]*columnStats{}
	var cols []string
	for _, r := range rows {
		for k, v := range r.Values {
			s := stats[k]
			if s == nil {
				s = &columnStats{name: k, roleSet: map[string]bool{}}
				stats[k] = s
				cols = append(cols, k)
			}
			s.observe(v)
		}
	}
	sort.Strings(cols)
	// Look columns up case-insensitively, keeping the file's spelling.
	lower := map[string]string{}
	for _, c := range cols {
		if _, dup := lower[strings.ToLower(c)]; !dup {
			lower[strings.ToLower(c)] = c
		}
	}
	text := func(names []string) []string {
		var out []string
		for _, n := range names {
			if c, ok := lower[n]; ok && stats[c].strings > 0 && stats[c].others == 0 {
				out = append(out, c)
			}
		}
		return out
	}
	d := &Detection{Columns: cols}
	seen := "columns " + strings.Join(cols, ", ")
	var found []*Detection

	// dpo, its columns text or (TRL's conversational form) message lists
	textOrConv := func(names []string) []string {
		var out []string
		for _, n := range names {
			if c, ok := lower[n]; ok && stats[c].strings+stats[c].messages > 0 && stats[c].others == 0 {
				out = append(out, c)
			}
		}
		return out
	}
	dpoCols := map[string]bool{}
	chosen, rejected := textOrConv(chosenColumns), textOrConv(rejectedColumns)
	isDPO := len(chosen) > 0 && len(rejected) > 0
	if isDPO {
		prompts := textOrConv(promptColumns)
		if len(prompts) == 0 {
			return nil, crucible.Errorf(crucible.EINVALID, "found %s and %s but no prompt column (one of %s) for a dpo task (%s)", chosen[0], rejected[0], strings.Join(promptColumns, ", "), seen)
		}
		m := crucible.ColumnMapping{FieldPrompt: prompts[0], FieldChosen: chosen[0], FieldRejected: rejected[0]}
		if sys := text(systemColumns); len(sys) > 0 {
			m.FieldSystem = sys[0]
			m.PromptFormat = "{system} {prompt}"
		}
		form := ""
		if conv, err := dpoConversational(stats, &m, seen); err != nil {
			return nil, err
		} else if conv {
			form = ", conversational (messages rendered with the chat template)"
		}
		for _, c := range []string{m.FieldPrompt, m.FieldChosen, m.FieldRejected} {
			dpoCols[c] = true
		}
		found = append(found, &Detection{Type: crucible.TaskDPO, Mapping: m,
			Reason: fmt.Sprintf("found columns %s: dpo with field_prompt=%s, field_chosen=%s, field_rejected=%s%s%s",
				joinNonEmpty(m.FieldPrompt, m.FieldChosen, m.FieldRejected, m.FieldSystem), m.FieldPrompt, m.FieldChosen, m.FieldRejected, optField("field_system", m.FieldSystem), form)})
	}

	// chat
	for _, c := range cols {
		s := stats[c]
		if s.messages == 0 || s.others > s.messages || dpoCols[c] {
			continue
		}
		isNamed := false
		for _, n := range chatColumns {
			isNamed = isNamed || strings.ToLower(c) == n
		}
		m, reason, ok := s.chatMapping()
		if !ok {
			if isNamed {
				return nil, crucible.Errorf(crucible.EINVALID, "found conversation column %s but %s; name the roles with --chat-user-reference and --chat-assistant-reference (%s)", c, reason, seen)
			}
			continue
		}
		found = append(found, &Detection{Type: crucible.TaskChat, Mapping: m,
			Reason: fmt.Sprintf("found column %s holding conversations of {%s, %s} messages with roles %s: chat", c, m.ChatRoleField, m.ChatContentField, strings.Join(s.roles, ", "))})
	}

	if !isDPO { // prompt/chosen/rejected leave no instruct reading
		inst, err := detectInstruct(text, seen)
		if err != nil {
			return nil, err
		}
		if inst != nil {
			found = append(found, inst)
		}
	}

	switch len(found) {
	case 1:
		f := found[0]
		f.Columns = cols
		return f, nil
	case 0:
		if t := text(textColumns); len(t) > 0 {
			d.Type, d.Mapping = crucible.TaskText, crucible.ColumnMapping{FieldText: t[0]}
			d.Reason = fmt.Sprintf("found only the text column %s: text (plain language modelling) with field_text=%s", t[0], t[0])
			return d, nil
		}
		return nil, crucible.Errorf(crucible.EINVALID, "cannot tell the task type from %s: no conversation column (%s), no prompt/chosen/rejected columns, no instruction/output pair (%s with %s) and no text column (%s)",
			seen, strings.Join(chatColumns, ", "), strings.Join(instructionColumns, ", "), strings.Join(outputColumns, ", "), strings.Join(textColumns, ", ")).
			WithHint("give the task type and the columns, e.g. --type instruct --field-instruction COL --field-output COL")
	}
	var readings []string
	for _, f := range found {
		readings = append(readings, f.Reason)
	}
	return nil, crucible.Errorf(crucible.EINVALID, "more than one reading of %s: %s", seen, strings.Join(readings, "; ")).
		WithHint("give the task type and the columns with --type and the mapping flags")
}

// detectInstruct looks for an instruction/output pair.
func detectInstruct(text func([]string) []string, seen string) (*Detection, error) {
	outs := text(outputColumns)
	if len(outs) == 0 {
		return nil, nil
	}
	insts := text(instructionColumns)
	// "input" is the instruction only when nothing else is; otherwise it is
	// the context of an Alpaca-style row.
	var main []string
	for _, c := range insts {
		if strings.ToLower(c) != "input" {
			main = append(main, c)
		}
	}
	if len(main) == 0 {
		main = insts
	}
	if len(main) == 0 {
		return nil, nil
	}
	if len(main) > 1 || len(outs) > 1 {
		return nil, crucible.Errorf(crucible.EINVALID, "ambiguous instruct columns in %s: instruction could be %s, output could be %s",
			seen, strings.Join(main, " or "), strings.Join(outs, " or ")).
			WithHint("name them with --type instruct --field-instruction COL --field-output COL")
	}
	m := crucible.ColumnMapping{FieldInstruction: main[0], FieldOutput: outs[0]}
	for _, c := range text(contextColumns) {
		if c != main[0] && c != outs[0] {
			m.FieldInput = c
			break
		}
	}
	if sys := text(systemColumns); len(sys) > 0 {
		m.FieldSystem = sys[0]
	}
	format := DefaultNoInputFormat
	if m.FieldInput != "" {
		format = DefaultFormatWithInput
	}
	return &Detection{Type: crucible.TaskInstruct, Mapping: m,
		Reason: fmt.Sprintf("found columns %s: instruct with field_instruction=%s%s, field_output=%s%s (prompt format %q, loss on the output only)",
			joinNonEmpty(m.FieldInstruction, m.FieldInput, m.FieldOutput, m.FieldSystem), m.FieldInstruction, optField("field_input", m.FieldInput), m.FieldOutput, optField("field_system", m.FieldSystem), format)}, nil
}

func joinNonEmpty(s ...string) string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, ", ")
}

func optField(name, v string) string {
	if v == "" {
		return ""
	}
	return ", " + name + "=" + v
}

func (s *columnStats) observe(v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if t := strings.TrimSpace(x); strings.HasPrefix(t, "[{") {
			var list []any
			if json.Unmarshal([]byte(t), &list) == nil && s.observeMessages(list) {
				return
			}
		}
		s.strings++
		return
	case []any:
		if s.observeMessages(x) {
			return
		}
	}
	s.others++
}

// observeMessages records a list of {role, content} or {from, value}
// objects; it reports false for any other list.
func (s *columnStats) observeMessages(list []any) bool {
	if len(list) == 0 {
		return false
	}
	var keys [2]string
	for _, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return false
		}
		k := messageKeys(obj)
		if k[0] == "" || (keys[0] != "" && k != keys) {
			return false
		}
		keys = k
	}
	if s.keys[0] != "" && s.keys != keys {
		return false
	}
	s.keys = keys
	s.messages++
	for _, e := range list {
		if role, ok := e.(map[string]any)[keys[0]].(string); ok && !s.roleSet[role] {
			s.roleSet[role] = true
			s.roles = append(s.roles, role)
		}
	}
	return true
}

// messageKeys finds the role and content field names of a message object.
func messageKeys(obj map[string]any) [2]string {
	for _, role := range []string{"role", "from"} {
		if _, ok := obj[role]; !ok {
			continue
		}
		for _, content := range []string{"content", "value", "text"} {
			if _, ok := obj[content]; ok {
				return [2]string{role, content}
			}
		}
	}
	return [2]string{}
}

// chatMapping maps the role values seen onto user, assistant and system.
func (s *columnStats) chatMapping() (crucible.ColumnMapping, string, bool) {
	m := crucible.ColumnMapping{ChatColumn: s.name, ChatRoleField: s.keys[0], ChatContentField: s.keys[1]}
	pick := func(dst *string, names []string) {
		for _, n := range names {
			if s.roleSet[n] {
				*dst = n
				return
			}
		}
	}
	pick(&m.ChatUserRole, userRoles)
	pick(&m.ChatAssistRole, assistantRoles)
	pick(&m.ChatSystemRole, systemRoles)
	var unknown []string
	for _, r := range s.roles {
		if r != m.ChatUserRole && r != m.ChatAssistRole && r != m.ChatSystemRole {
			unknown = append(unknown, fmt.Sprintf("%q", r))
		}
	}
	switch {
	case m.ChatUserRole == "" || m.ChatAssistRole == "":
		return m, fmt.Sprintf("its roles (%s) do not include both a user and an assistant", strings.Join(s.roles, ", ")), false
	case len(unknown) > 0:
		return m, "the roles " + strings.Join(unknown, ", ") + " are not user, assistant or system", false
	}
	if m.ChatSystemRole == "" {
		m.ChatSystemRole = RoleSystem
	}
	return m, "", true
}

// dpoConversational sets the message fields of a dpo mapping whose columns
// hold message lists, when they differ from {role, content} and
// user/assistant/system, and reports whether any column does.
func dpoConversational(stats map[string]*columnStats, m *crucible.ColumnMapping, seen string) (bool, error) {
	var keys [2]string
	roles := map[string]bool{}
	conv := false
	for _, c := range []string{m.FieldPrompt, m.FieldChosen, m.FieldRejected} {
		s := stats[c]
		if s.messages == 0 {
			continue
		}
		if conv && s.keys != keys {
			return false, crucible.Errorf(crucible.EINVALID, "dpo columns hold messages of different shapes ({%s, %s} and {%s, %s}) (%s)", keys[0], keys[1], s.keys[0], s.keys[1], seen)
		}
		conv, keys = true, s.keys
		for r := range s.roleSet {
			roles[r] = true
		}
	}
	if !conv {
		return false, nil
	}
	all := &columnStats{name: m.FieldChosen, keys: keys, roleSet: roles}
	for r := range roles {
		all.roles = append(all.roles, r)
	}
	sort.Strings(all.roles)
	cm, why, ok := all.chatMapping()
	if !ok {
		return false, crucible.Errorf(crucible.EINVALID, "dpo columns hold messages, but %s (%s)", why, seen).
			WithHint("name the roles with --chat-user-reference and --chat-assistant-reference")
	}
	set := func(dst *string, v, def string) {
		if v != def {
			*dst = v
		}
	}
	set(&m.ChatRoleField, cm.ChatRoleField, "role")
	set(&m.ChatContentField, cm.ChatContentField, "content")
	set(&m.ChatUserRole, cm.ChatUserRole, RoleUser)
	set(&m.ChatAssistRole, cm.ChatAssistRole, RoleAssistant)
	set(&m.ChatSystemRole, cm.ChatSystemRole, RoleSystem)
	return true, nil
}
