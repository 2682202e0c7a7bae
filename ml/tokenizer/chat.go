package tokenizer

import (
	"encoding/json"
	"fmt"

	"github.com/ardanlabs/jinja"
)

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user", "assistant" or "tool"
	Content string `json:"content"`
}

// chatML is the template used when tokenizer_config.json has none: the
// ChatML layout (<|im_start|>role\ncontent<|im_end|>\n).
const chatML = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

// parseChatTemplate reads chat_template (a string, or a list of named
// templates of which "default" is used) and compiles it. A template that does
// not compile is reported by ApplyChatTemplate rather than failing the load,
// since encoding and decoding do not need it.
func (t *Tokenizer) parseChatTemplate() error {
	t.chatTemplate = chatML
	if raw, ok := t.source.config["chat_template"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			t.chatTemplate = s
		} else {
			var named []struct {
				Name     string `json:"name"`
				Template string `json:"template"`
			}
			if err := json.Unmarshal(raw, &named); err != nil {
				return fmt.Errorf("chat_template: want a string or a list of {name, template}: %w", err)
			}
			found := false
			for _, n := range named {
				if n.Name == "default" {
					t.chatTemplate, found = n.Template, true
				}
			}
			if !found {
				return fmt.Errorf("chat_template: no template named \"default\" among %d", len(named))
			}
		}
	}
	t.setChatTemplate(t.chatTemplate)
	return nil
}

// setChatTemplate replaces the chat template; a template that does not
// compile is reported by ApplyChatTemplate.
func (t *Tokenizer) setChatTemplate(src string) {
	t.chatTemplate = src
	t.chat, t.chatErr = jinja.Compile(src)
}

// ChatTemplate returns the Jinja source ApplyChatTemplate renders.
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }

// ApplyChatTemplate renders msgs with the model's chat template (ChatML when
// it has none), as Hugging Face's apply_chat_template(tokenize=False) does.
// With addGenerationPrompt the text ends with the header of an assistant
// turn, ready for generation. The result holds special tokens as text: encode
// it with Encode, not EncodeOrdinary.
func (t *Tokenizer) ApplyChatTemplate(msgs []Message, addGenerationPrompt bool) (string, error) {
	if t.chatErr != nil {
		return "", fmt.Errorf("chat template: %w", t.chatErr)
	}
	list := make([]any, len(msgs))
	for i, m := range msgs {
		list[i] = map[string]any{"role": m.Role, "content": m.Content}
	}
	data := map[string]any{
		"messages":              list,
		"add_generation_prompt": addGenerationPrompt,
	}
	for _, field := range []string{"bos_token", "eos_token", "pad_token", "unk_token"} {
		if tok, ok, _ := t.configToken(field); ok {
			data[field] = tok
		}
	}
	out, err := t.chat.Render(data)
	if err != nil {
		return "", fmt.Errorf("chat template: %w", err)
	}
	return out, nil
}
