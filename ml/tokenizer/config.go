package tokenizer

import (
	"encoding/json"
	"fmt"
)

// parsePostProcessor records the special tokens the post-processor adds
// around a sequence; AddBOS and the fallback BOS/EOS ids come from them.
func (t *Tokenizer) parsePostProcessor(raw json.RawMessage) error {
	ts, err := parsePostProcessor(raw, "post_processor")
	if err != nil {
		return err
	}
	t.template = ts
	return nil
}

// configToken reads a tokenizer_config.json token field: a string, an
// object with "content", or null.
func (t *Tokenizer) configToken(field string) (string, bool, error) {
	raw, ok := t.source.config[field]
	if !ok || isNull(raw) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == "" {
		return "", false, fmt.Errorf("%s: want a string or an object with content", field)
	}
	return obj.Content, true, nil
}

func (t *Tokenizer) configBool(field string) (value, set bool, err error) {
	raw, ok := t.source.config[field]
	if !ok || isNull(raw) {
		return false, false, nil
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		return false, false, fmt.Errorf("%s: want true or false", field)
	}
	return value, true, nil
}

// fallbackEOS lists end-of-text tokens used as EOS when nothing names one.
var fallbackEOS = []string{"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>"}

// applyConfig sets BOS, EOS, padding and the chat template from
// tokenizer_config.json, falling back to the post-processor template.
func (t *Tokenizer) applyConfig() error {
	lookup := func(field string) (int, bool, error) {
		tok, ok, err := t.configToken(field)
		if err != nil || !ok {
			return -1, false, err
		}
		id, found := t.TokenID(tok)
		if !found {
			return -1, false, fmt.Errorf("%s %q is not a token of tokenizer.json", field, tok)
		}
		return id, true, nil
	}
	var err error
	var ok bool
	if t.bosID, ok, err = lookup("bos_token"); err != nil {
		return err
	} else if !ok && len(t.template.before) > 0 {
		t.bosID, _ = t.TokenID(t.template.before[0])
	}
	if t.eosID, ok, err = lookup("eos_token"); err != nil {
		return err
	} else if !ok {
		if len(t.template.after) > 0 {
			t.eosID, _ = t.TokenID(t.template.after[len(t.template.after)-1])
		} else if _, hasEOSField := t.source.config["eos_token"]; !hasEOSField {
			for _, tok := range fallbackEOS {
				if id, found := t.addedIDs[tok]; found {
					t.eosID = id
					break
				}
			}
		}
	}
	if t.padID, _, err = lookup("pad_token"); err != nil {
		return err
	}
	if t.addBOS, ok, err = t.configBool("add_bos_token"); err != nil {
		return err
	} else if !ok {
		t.addBOS = len(t.template.before) > 0 && t.bosID >= 0 && t.Token(t.bosID) == t.template.before[0]
	}
	if t.addEOS, ok, err = t.configBool("add_eos_token"); err != nil {
		return err
	} else if !ok {
		t.addEOS = len(t.template.after) > 0 && t.eosID >= 0 && t.Token(t.eosID) == t.template.after[len(t.template.after)-1]
	}
	return t.parseChatTemplate()
}
