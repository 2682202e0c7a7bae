package data

import (
	"fmt"
	"strings"
)

// span is a byte range of rendered text whose tokens count in the loss.
type span struct{ start, end int }

// tokenizeChat renders the conversation with the chat template, finds the
// text of each assistant turn in it (see assistantSpans), and encodes the
// text piece by piece, so that each piece's tokens can be labelled by the
// turn that produced it. Pieces end at turn boundaries, which templates
// mark with special tokens, so the ids are those of the whole text.
func tokenizeChat(b *seqBuilder, tok Tokenizer, ex Example, opt TokenizeOptions) error {
	render := opt.ChatTemplate
	if render == nil {
		render = ChatML
	}
	full, err := render(ex.Messages, false)
	if err != nil {
		return errorf(ex.Pos, "", "chat template: %v", err)
	}
	spans, err := assistantSpans(full, ex.Messages, render, eosText(tok))
	if err != nil {
		return errorf(ex.Pos, "", "%v", err)
	}
	first := true
	emit := func(text string, count bool) {
		if text == "" {
			return
		}
		ids := tok.Encode(text)
		if first {
			if pre := bos(tok); pre != nil && (len(ids) == 0 || ids[0] != pre[0]) {
				b.add(pre, false)
			}
			first = false
		}
		b.add(ids, count)
	}
	at := 0
	for _, sp := range spans {
		emit(full[at:sp.start], opt.TrainOnInputs)
		emit(full[sp.start:sp.end], true)
		at = sp.end
	}
	emit(full[at:], opt.TrainOnInputs)
	if len(b.ids) > 0 && b.labels[0] != IgnoreIndex && tok.BOSID() >= 0 && int(b.ids[0]) == tok.BOSID() {
		b.labels[0] = IgnoreIndex
	}
	return nil
}

// eosText returns the text of the tokenizer's EOS token, when it can say.
func eosText(tok Tokenizer) string {
	if t, ok := tok.(interface{ Token(int) string }); ok && tok.EOSID() >= 0 {
		return t.Token(tok.EOSID())
	}
	return ""
}

// assistantSpans returns the text of each assistant turn in the rendered
// conversation full, in order.
//
// Most templates render a conversation's prefixes as prefixes of the whole;
// then a turn is exactly the text that rendering it adds after the
// generation prompt (its end-of-turn text included). Some (Qwen3's, which
// adds an empty <think> block to the last turn only) do not; then each
// message's content is found in order in the whole text, and an assistant
// turn is its content plus the EOS text right after it, as Axolotl counts.
func assistantSpans(full string, msgs []Message, render ChatTemplate, eos string) ([]span, error) {
	spans, stable, err := prefixSpans(full, msgs, render)
	if err != nil || stable {
		return spans, err
	}
	return searchSpans(full, msgs, eos)
}

// prefixSpans finds the turns from rendered prefixes; stable is false when
// the template does not render prefixes as prefixes.
func prefixSpans(full string, msgs []Message, render ChatTemplate) (spans []span, stable bool, err error) {
	prev := 0
	for i, m := range msgs {
		if m.Role != RoleAssistant {
			continue
		}
		head, err := render(msgs[:i], true)
		if err != nil {
			return nil, false, fmt.Errorf("chat template: %w", err)
		}
		upto, err := render(msgs[:i+1], false)
		if err != nil {
			return nil, false, fmt.Errorf("chat template: %w", err)
		}
		if !strings.HasPrefix(full, head) || !strings.HasPrefix(upto, head) || !strings.HasPrefix(full, upto) || len(head) < prev {
			return nil, false, nil
		}
		spans = append(spans, span{len(head), len(upto)})
		prev = len(upto)
	}
	return spans, true, nil
}

// searchSpans finds every message's content in order in full.
func searchSpans(full string, msgs []Message, eos string) ([]span, error) {
	var spans []span
	at := 0
	for i, m := range msgs {
		content := m.Content
		idx := strings.Index(full[at:], content)
		if idx < 0 {
			// Templates commonly trim what they render.
			content = strings.TrimSpace(content)
			idx = strings.Index(full[at:], content)
		}
		if idx < 0 {
			return nil, fmt.Errorf("chat template does not render the text of turn %d (%s) as given; cannot tell which tokens are the assistant's", i+1, m.Role)
		}
		start := at + idx
		end := start + len(content)
		if m.Role == RoleAssistant {
			if eos != "" && strings.HasPrefix(full[end:], eos) {
				end += len(eos)
			}
			spans = append(spans, span{start, end})
		}
		at = end
	}
	return spans, nil
}
