package data

import (
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// dpoMessageFields returns the message field names and role values used
// for conversational dpo columns: the chat mapping fields when set, else
// the OpenAI/TRL spelling ({role, content}, user/assistant/system).
func dpoMessageFields(m crucible.ColumnMapping) (roleField, contentField string, roles map[string]string) {
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	roles = map[string]string{
		or(m.ChatUserRole, RoleUser):        RoleUser,
		or(m.ChatAssistRole, RoleAssistant): RoleAssistant,
		or(m.ChatSystemRole, RoleSystem):    RoleSystem,
	}
	return or(m.ChatRoleField, "role"), or(m.ChatContentField, "content"), roles
}

// dpo shapes a preference row. Each of prompt, chosen and rejected is text,
// or, in TRL's conversational form, a list of messages: a conversational
// prompt becomes Example.Messages (rendered by the chat template when
// tokenized), and a conversational answer is the content of its last
// assistant message.
func (f *Formatter) dpo(r Row, ex *Example) error {
	m := f.Mapping
	roleField, contentField, roles := dpoMessageFields(m)
	system, err := optionalStringField(r, m.FieldSystem)
	if err != nil {
		return err
	}
	var prompt string
	pv, ok := r.Values[m.FieldPrompt]
	switch {
	case !ok:
		return errorf(r.Pos, m.FieldPrompt, "missing (columns are %s)", strings.Join(r.Columns(), ", "))
	case isMessageList(pv):
		msgs, err := parseMessages(r.Pos, m.FieldPrompt, pv, roleField, contentField, roles)
		if err != nil {
			return err
		}
		if system != "" && (len(msgs) == 0 || msgs[0].Role != RoleSystem) {
			msgs = append([]Message{{Role: RoleSystem, Content: system}}, msgs...)
		}
		if len(msgs) == 0 {
			return errorf(r.Pos, m.FieldPrompt, "empty conversation")
		}
		ex.Messages = msgs
	default:
		if prompt, err = asString(r.Pos, m.FieldPrompt, pv); err != nil {
			return err
		}
	}
	answer := func(col string) (string, error) {
		v, ok := r.Values[col]
		if !ok {
			return "", errorf(r.Pos, col, "missing (columns are %s)", strings.Join(r.Columns(), ", "))
		}
		if !isMessageList(v) {
			return asString(r.Pos, col, v)
		}
		msgs, err := parseMessages(r.Pos, col, v, roleField, contentField, roles)
		if err != nil {
			return "", err
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == RoleAssistant {
				return msgs[i].Content, nil
			}
		}
		return "", errorf(r.Pos, col, "conversation has no assistant message to use as the answer")
	}
	chosen, err := answer(m.FieldChosen)
	if err != nil {
		return err
	}
	rejected, err := answer(m.FieldRejected)
	if err != nil {
		return err
	}
	vars := map[string]string{"prompt": prompt, "system": system, "chosen": chosen, "rejected": rejected}
	if ex.Messages == nil {
		ex.Prompt = fill(m.PromptFormat, vars)
	}
	ex.Chosen = fill(m.ChosenFormat, vars)
	ex.Rejected = fill(m.RejectedFormat, vars)
	return nil
}
