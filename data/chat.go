package data

import "github.com/crucible-net/crucible/ml/tokenizer"

// TemplateOf renders conversations with a tokenizer's own chat template
// (ChatML when its tokenizer_config.json has none). *tokenizer.Tokenizer is
// itself a Tokenizer; this supplies TokenizeOptions.ChatTemplate.
func TemplateOf(t *tokenizer.Tokenizer) ChatTemplate {
	return func(msgs []Message, addGenerationPrompt bool) (string, error) {
		tm := make([]tokenizer.Message, len(msgs))
		for i, m := range msgs {
			tm[i] = tokenizer.Message{Role: m.Role, Content: m.Content}
		}
		return t.ApplyChatTemplate(tm, addGenerationPrompt)
	}
}

// *tokenizer.Tokenizer is the Tokenizer crucible uses.
var _ Tokenizer = (*tokenizer.Tokenizer)(nil)
