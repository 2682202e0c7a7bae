package data

import (
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
	rows, err := readSample(path, sample)
	if err != nil {
		return nil, err
	}
	return Detect(rows)
}

// detectFileAs detects the mapping of a dataset for task type t: the
// grpo reading when t is grpo (prompt and answer columns read as an
// instruct pair otherwise), else what Detect finds.
func detectFileAs(path string, t crucible.TaskType) (*Detection, error) {
	rows, err := readSample(path, 0)
	if err != nil {
		return nil, err
	}
	if t == crucible.TaskGRPO {
		return DetectGRPO(rows)
	}
	return Detect(rows)
}

// readSample reads the first sample rows of a dataset (0 means
// DefaultDetectSample), skipping rows that fail to read; a file with no
// readable row is an error.
func readSample(path string, sample int) ([]Row, error) {
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
	return rows, nil
}

// Detect picks the task type and column mapping that fit a sample of rows:
// a conversation column (OpenAI messages [{role, content}] or ShareGPT
// conversations [{from, value}]), prompt/chosen/rejected, an
// instruction/output pair (with aliases such as question/answer,
// prompt/completion, query/response, input/output, and optional input and
// system columns), a prompt column with no answer column (grpo: prompts
// for reward functions, every other column passed to them as extra data),
// or a text column. It returns EINVALID, listing the
// columns seen, when nothing fits or when more than one reading does.
func Detect(rows []Row) (*Detection, error) {
	d := newDetector(rows)
	var found []*Detection
	dpo, err := d.dpo()
	if err != nil {
		return nil, err
	}
	if dpo != nil {
		found = append(found, dpo)
	}
	chats, err := d.chats(dpo)
	if err != nil {
		return nil, err
	}
	found = append(found, chats...)
	if dpo == nil { // prompt/chosen/rejected leave no instruct reading
		inst, err := detectInstruct(d.text, d.optional, d.seen)
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
		f.Columns = d.cols
		return f, nil
	case 0:
		if len(d.text(promptColumns)) > 0 {
			g, err := d.grpo()
			if err != nil {
				return nil, err
			}
			g.Columns = d.cols
			return g, nil
		}
		if t := d.text(textColumns); len(t) > 0 {
			return &Detection{Type: crucible.TaskText, Mapping: crucible.ColumnMapping{FieldText: t[0]}, Columns: d.cols,
				Reason: fmt.Sprintf("found only the text column %s: text (plain language modelling) with field_text=%s", t[0], t[0])}, nil
		}
		return nil, crucible.Errorf(crucible.EINVALID, "cannot tell the task type from %s: no conversation column (%s), no prompt/chosen/rejected columns, no instruction/output pair (%s with %s) and no text column (%s)",
			d.seen, strings.Join(chatColumns, ", "), strings.Join(instructionColumns, ", "), strings.Join(outputColumns, ", "), strings.Join(textColumns, ", ")).
			WithHint("give the task type and the columns, e.g. --type instruct --field-instruction COL --field-output COL")
	}
	var readings []string
	for _, f := range found {
		readings = append(readings, f.Reason)
	}
	return nil, crucible.Errorf(crucible.EINVALID, "more than one reading of %s: %s", d.seen, strings.Join(readings, "; ")).
		WithHint("give the task type and the columns with --type and the mapping flags")
}

// detector holds the column statistics of a sample.
type detector struct {
	stats map[string]*columnStats
	cols  []string          // sorted
	lower map[string]string // lower-case name -> the file's spelling
	seen  string            // "columns a, b, c", for messages
}

func newDetector(rows []Row) *detector {
	d := &detector{stats: map[string]*columnStats{}, lower: map[string]string{}}
	for _, r := range rows {
		for k, v := range r.Values {
			s := d.stats[k]
			if s == nil {
				s = &columnStats{name: k, roleSet: map[string]bool{}}
				d.stats[k] = s
				d.cols = append(d.cols, k)
			}
			s.observe(v)
		}
	}
	sort.Strings(d.cols)
	for _, c := range d.cols {
		if _, dup := d.lower[strings.ToLower(c)]; !dup {
			d.lower[strings.ToLower(c)] = c
		}
	}
	d.seen = "columns " + strings.Join(d.cols, ", ")
	return d
}

// text returns the columns among names (looked up case-insensitively)
// that hold text and nothing else.
func (d *detector) text(names []string) []string {
	var out []string
	for _, n := range names {
		if c, ok := d.lower[n]; ok && d.stats[c].strings > 0 && d.stats[c].others == 0 {
			out = append(out, c)
		}
	}
	return out
}

// optional is text that also accepts columns holding only nulls in the
// sample (an input or system column that is empty in the first rows).
func (d *detector) optional(names []string) []string {
	var out []string
	for _, n := range names {
		if c, ok := d.lower[n]; ok && d.stats[c].others == 0 {
			out = append(out, c)
		}
	}
	return out
}

// textOrConv is text that also accepts columns of message lists.
func (d *detector) textOrConv(names []string) []string {
	var out []string
	for _, n := range names {
		if c, ok := d.lower[n]; ok && d.stats[c].strings+d.stats[c].messages > 0 && d.stats[c].others == 0 {
			out = append(out, c)
		}
	}
	return out
}

// dpo looks for prompt, chosen and rejected columns, as text or (TRL's
// conversational form) message lists.
func (d *detector) dpo() (*Detection, error) {
	chosen, rejected := d.textOrConv(chosenColumns), d.textOrConv(rejectedColumns)
	if len(chosen) == 0 || len(rejected) == 0 {
		return nil, nil
	}
	prompts := d.textOrConv(promptColumns)
	if len(prompts) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "found %s and %s but no prompt column (one of %s) for a dpo task (%s)", chosen[0], rejected[0], strings.Join(promptColumns, ", "), d.seen)
	}
	m := crucible.ColumnMapping{FieldPrompt: prompts[0], FieldChosen: chosen[0], FieldRejected: rejected[0]}
	if sys := d.text(systemColumns); len(sys) > 0 {
		m.FieldSystem = sys[0]
		m.PromptFormat = "{system} {prompt}"
	}
	form := ""
	if conv, err := dpoConversational(d.stats, &m, d.seen); err != nil {
		return nil, err
	} else if conv {
		form = ", conversational (messages rendered with the chat template)"
	}
	return &Detection{Type: crucible.TaskDPO, Mapping: m,
		Reason: fmt.Sprintf("found columns %s: dpo with field_prompt=%s, field_chosen=%s, field_rejected=%s%s%s",
			joinNonEmpty(m.FieldPrompt, m.FieldChosen, m.FieldRejected, m.FieldSystem), m.FieldPrompt, m.FieldChosen, m.FieldRejected, optField("field_system", m.FieldSystem), form)}, nil
}

// chats returns a chat reading for every column of conversations (other
// than the columns of a dpo reading).
func (d *detector) chats(dpo *Detection) ([]*Detection, error) {
	var found []*Detection
	for _, c := range d.cols {
		s := d.stats[c]
		if s.messages == 0 || s.others > s.messages {
			continue
		}
		if dpo != nil && (c == dpo.Mapping.FieldPrompt || c == dpo.Mapping.FieldChosen || c == dpo.Mapping.FieldRejected) {
			continue
		}
		isNamed := false
		for _, n := range chatColumns {
			isNamed = isNamed || strings.ToLower(c) == n
		}
		m, reason, ok := s.chatMapping()
		if !ok {
			if isNamed {
				return nil, crucible.Errorf(crucible.EINVALID, "found conversation column %s but %s; name the roles with --chat-user-reference and --chat-assistant-reference (%s)", c, reason, d.seen)
			}
			continue
		}
		found = append(found, &Detection{Type: crucible.TaskChat, Mapping: m,
			Reason: fmt.Sprintf("found column %s holding conversations of {%s, %s} messages with roles %s: chat", c, m.ChatRoleField, m.ChatContentField, strings.Join(s.roles, ", "))})
	}
	return found, nil
}

// detectInstruct looks for an instruction/output pair.
func detectInstruct(text, optional func([]string) []string, seen string) (*Detection, error) {
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
	for _, c := range optional(contextColumns) {
		if c != main[0] && c != outs[0] {
			m.FieldInput = c
			break
		}
	}
	if sys := optional(systemColumns); len(sys) > 0 {
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
