package data

import (
	"fmt"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// A grpo row is a prompt to sample completions for, plus extra columns
// (the expected answer, say) that the task's reward functions read. The
// prompt is text, shaped by prompt_format ("{prompt}", with {system} when
// a system column is mapped); the extra columns are the ones named in
// extra_columns, or every other column when none are named.

// grpo detects a grpo reading: a prompt column, and every other column
// (but a system column) handed to the rewards.
func (d *detector) grpo() (*Detection, error) {
	prompts := d.text(promptColumns)
	if len(prompts) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "no prompt column for a grpo task (one of %s) in %s", strings.Join(promptColumns, ", "), d.seen).
			WithHint("name it with --field-prompt COL")
	}
	m := crucible.ColumnMapping{FieldPrompt: prompts[0]}
	if sys := d.text(systemColumns); len(sys) > 0 && sys[0] != m.FieldPrompt {
		m.FieldSystem = sys[0]
		m.PromptFormat = "{system} {prompt}"
	}
	var extras []string
	for _, c := range d.cols {
		if c != m.FieldPrompt && c != m.FieldSystem {
			extras = append(extras, c)
		}
	}
	m.ExtraColumns = strings.Join(extras, ",")
	passed := "no extra columns"
	if len(extras) > 0 {
		passed = "extra columns " + strings.Join(extras, ", ") + " passed to the rewards"
	}
	return &Detection{Type: crucible.TaskGRPO, Mapping: m,
		Reason: fmt.Sprintf("found prompt column %s: grpo (completions sampled and scored by reward functions) with field_prompt=%s%s, %s",
			m.FieldPrompt, m.FieldPrompt, optField("field_system", m.FieldSystem), passed)}, nil
}

// DetectGRPO reads a sample of rows as a grpo dataset: the prompt column
// and the extra columns (see Detect for the rest).
func DetectGRPO(rows []Row) (*Detection, error) {
	d := newDetector(rows)
	det, err := d.grpo()
	if err != nil {
		return nil, err
	}
	det.Columns = d.cols
	return det, nil
}

// extraColumns returns the extra columns of a grpo row: those mapped, or
// every column but the prompt and system ones.
func (f *Formatter) extraColumns(r Row) []string {
	if cols := f.Mapping.Extras(); len(cols) > 0 {
		return cols
	}
	var out []string
	for _, c := range r.Columns() {
		if c != f.Mapping.FieldPrompt && c != f.Mapping.FieldSystem {
			out = append(out, c)
		}
	}
	return out
}

// grpo shapes a grpo row: the formatted prompt, and the extra columns.
// A mapped extra column the row lacks is an error (a null value is kept:
// a reward that needs it says so when the rewards are checked).
func (f *Formatter) grpo(r Row, ex *Example) error {
	m := f.Mapping
	v, ok := r.Values[m.FieldPrompt]
	if !ok {
		return errorf(r.Pos, m.FieldPrompt, "missing (columns are %s)", strings.Join(r.Columns(), ", "))
	}
	if isMessageList(v) {
		return errorf(r.Pos, m.FieldPrompt, "a conversation; grpo prompts are text (render the conversation into one string first)")
	}
	prompt, err := asString(r.Pos, m.FieldPrompt, v)
	if err != nil {
		return err
	}
	system, err := optionalStringField(r, m.FieldSystem)
	if err != nil {
		return err
	}
	ex.Prompt = fill(m.PromptFormat, map[string]string{"prompt": prompt, "system": system})
	ex.Extra = map[string]any{}
	for _, c := range f.extraColumns(r) {
		val, ok := r.Values[c]
		if !ok {
			return errorf(r.Pos, c, "missing extra column (columns are %s)", strings.Join(r.Columns(), ", "))
		}
		ex.Extra[c] = val
	}
	return nil
}

// TokenizePrompt tokenizes a grpo example's prompt: BOS (when the
// tokenizer wants it) and the prompt text, which the completions continue.
func TokenizePrompt(tok Tokenizer, ex Example) []int32 {
	ids := append(bos(tok), tok.Encode(ex.Prompt)...)
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

// GRPOPrompt is a grpo example ready for training or evaluation.
type GRPOPrompt struct {
	Pos   Pos
	IDs   []int32 // BOS + prompt
	Text  string  // the prompt, as the rewards see it
	Extra map[string]any
}

// TokenizePrompts tokenizes grpo examples. A prompt longer than maxPrompt
// tokens (0: no limit) is an error naming its row: cutting a prompt would
// change the question the rewards judge the answer to.
func TokenizePrompts(tok Tokenizer, exs []Example, maxPrompt int) ([]GRPOPrompt, TokenizeStats, error) {
	st := TokenizeStats{Examples: len(exs)}
	out := make([]GRPOPrompt, 0, len(exs))
	for _, ex := range exs {
		ids := TokenizePrompt(tok, ex)
		if maxPrompt > 0 && len(ids) > maxPrompt {
			return nil, st, errorf(ex.Pos, "", "the prompt has %d tokens; at most %d fit with room for the completion", len(ids), maxPrompt)
		}
		st.Tokens += int64(len(ids))
		out = append(out, GRPOPrompt{Pos: ex.Pos, IDs: ids, Text: ex.Prompt, Extra: ex.Extra})
	}
	return out, st, nil
}
