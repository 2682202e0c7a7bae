package data

import "github.com/crucible-net/crucible/crucible"

// MappingHelp documents each field of a column mapping, by its JSON
// (Gradients) name; commands make a flag of each (dashes for underscores).
var MappingHelp = map[string]string{
	"field_instruction":        "instruct: column holding the instruction",
	"field_input":              "instruct: column holding the optional input",
	"field_output":             "instruct: column holding the answer",
	"field_system":             "instruct, dpo: column holding the system text",
	"format":                   `instruct: prompt template for rows with an input (default "{instruction} {input}")`,
	"no_input_format":          `instruct: prompt template for rows without an input (default "{instruction}")`,
	"system_format":            `instruct: template for the system text, put before the prompt (default "{system}")`,
	"chat_column":              `chat: column holding the list of messages (default "conversations")`,
	"chat_role_field":          `chat: message field holding the role (default "from")`,
	"chat_content_field":       `chat: message field holding the text (default "value")`,
	"chat_user_reference":      `chat: role value of the user (default "user")`,
	"chat_assistant_reference": `chat: role value of the assistant (default "assistant")`,
	"chat_system_reference":    `chat: role value of the system (default "system")`,
	"field_prompt":             "dpo, grpo: column holding the prompt",
	"field_chosen":             "dpo: column holding the preferred answer",
	"field_rejected":           "dpo: column holding the rejected answer",
	"prompt_format":            `dpo, grpo: prompt template (default "{prompt}")`,
	"chosen_format":            `dpo: chosen answer template (default "{chosen}")`,
	"rejected_format":          `dpo: rejected answer template (default "{rejected}")`,
	"field_text":               `text: column holding the text (default "text")`,
	"extra_columns":            "grpo: comma-separated columns the reward functions read (default: every column but the prompt)",
}

// MappingType infers the task type from the fields a column mapping sets:
// they must all belong to one type (a prompt alone is dpo's; with extra
// columns, grpo's).
func MappingType(m crucible.ColumnMapping) (crucible.TaskType, error) {
	groups := []struct {
		t      crucible.TaskType
		fields []string
	}{
		{crucible.TaskInstruct, []string{m.FieldInstruction, m.FieldInput, m.FieldOutput, m.Format, m.NoInputFormat}},
		{crucible.TaskChat, []string{m.ChatColumn, m.ChatRoleField, m.ChatContentField, m.ChatUserRole, m.ChatAssistRole, m.ChatSystemRole}},
		{crucible.TaskDPO, []string{m.FieldChosen, m.FieldRejected, m.ChosenFormat, m.RejectedFormat}},
		{crucible.TaskText, []string{m.FieldText}},
		{crucible.TaskGRPO, []string{m.ExtraColumns}},
	}
	if m.ExtraColumns == "" {
		// A prompt alone is a dpo mapping's start; with extra columns, grpo's.
		groups[2].fields = append(groups[2].fields, m.FieldPrompt, m.PromptFormat)
	}
	var found []crucible.TaskType
	for _, g := range groups {
		for _, f := range g.fields {
			if f != "" {
				found = append(found, g.t)
				break
			}
		}
	}
	if len(found) != 1 {
		return "", crucible.Errorf(crucible.EINVALID, "cannot tell the task type from the mapping flags given; add --type (instruct, chat, dpo, text or grpo)")
	}
	return found[0], nil
}
