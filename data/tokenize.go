package data

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// IgnoreIndex marks a label that does not count in the loss.
const IgnoreIndex = -100

// Tokenizer is what tokenization needs from a tokenizer; ml/tokenizer's
// *Tokenizer provides it.
type Tokenizer interface {
	// Encode turns text into token ids, without BOS or EOS.
	Encode(text string) []int
	// BOSID and EOSID return the special token ids, -1 when there is none.
	BOSID() int
	EOSID() int
	// AddBOS reports whether the model expects BOS at the start of a sequence.
	AddBOS() bool
}

// ChatTemplate renders a conversation into model text, with the opening of
// an assistant turn appended when addGenerationPrompt is set. It is the
// model's chat template (see FromTokenizer) or ChatML.
type ChatTemplate func(msgs []Message, addGenerationPrompt bool) (string, error)

// ChatML renders a conversation in the ChatML format, Gradients' default
// chat template:
//
//	<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n
func ChatML(msgs []Message, addGenerationPrompt bool) (string, error) {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n")
	}
	if addGenerationPrompt {
		b.WriteString("<|im_start|>assistant\n")
	}
	return b.String(), nil
}

// TokenizeOptions controls tokenization.
type TokenizeOptions struct {
	// MaxLength truncates sequences to this many tokens; 0 means no limit.
	MaxLength int
	// TrainOnInputs makes prompt tokens count in the loss too.
	TrainOnInputs bool
	// ChatTemplate renders chat examples. Defaults to ChatML.
	ChatTemplate ChatTemplate
}

// Sequence is a tokenized example. Labels has the length of IDs, aligned
// with it the Hugging Face way: Labels[i] is the token expected at position
// i (the loss compares position i-1's prediction with it), IgnoreIndex where
// the token does not count.
type Sequence struct {
	Pos       Pos
	IDs       []int32
	Labels    []int32
	Truncated bool // cut to TokenizeOptions.MaxLength
}

// Counted returns the number of labels that count in the loss.
func (s Sequence) Counted() int {
	n := 0
	for _, l := range s.Labels {
		if l != IgnoreIndex {
			n++
		}
	}
	return n
}

// seqBuilder appends token runs, each counted in the loss or not.
type seqBuilder struct {
	ids, labels []int32
}

// reserve makes room for n tokens at once, so that the runs added after
// do not grow the slices one by one.
func (b *seqBuilder) reserve(n int) {
	b.ids = slices.Grow(b.ids, n)
	b.labels = slices.Grow(b.labels, n)
}

func (b *seqBuilder) add(ids []int, count bool) {
	b.ids = slices.Grow(b.ids, len(ids))
	b.labels = slices.Grow(b.labels, len(ids))
	for _, id := range ids {
		b.ids = append(b.ids, int32(id))
		if count {
			b.labels = append(b.labels, int32(id))
		} else {
			b.labels = append(b.labels, IgnoreIndex)
		}
	}
}

func (b *seqBuilder) seq(pos Pos, max int) Sequence {
	s := Sequence{Pos: pos, IDs: b.ids, Labels: b.labels}
	if max > 0 && len(s.IDs) > max {
		s.IDs, s.Labels, s.Truncated = s.IDs[:max], s.Labels[:max], true
	}
	return s
}

func bos(tok Tokenizer) []int {
	if tok.AddBOS() && tok.BOSID() >= 0 {
		return []int{tok.BOSID()}
	}
	return nil
}

func eos(tok Tokenizer) []int {
	if tok.EOSID() >= 0 {
		return []int{tok.EOSID()}
	}
	return nil
}

// Tokenize turns an instruct, chat or text example into a sequence.
//
//   - instruct: BOS (when the tokenizer wants it) + prompt, not counted,
//     then response + EOS, counted. Prompt and response are encoded
//     separately, as Axolotl does.
//   - chat: the conversation rendered by the chat template; only assistant
//     turns (their content and the template's end-of-turn text) count.
//   - text: BOS + text + EOS, all counted.
//
// With TrainOnInputs every token but BOS counts.
func Tokenize(tok Tokenizer, ex Example, opt TokenizeOptions) (Sequence, error) {
	if ae, ok := tok.(appendEncoder); ok && (ex.Type == crucible.TaskInstruct || ex.Type == crucible.TaskText) {
		return tokenizeAppend(tok, ae, ex, opt), nil
	}
	var b seqBuilder
	switch ex.Type {
	case crucible.TaskInstruct:
		prompt, response := tok.Encode(ex.Prompt), tok.Encode(ex.Response)
		b.reserve(len(prompt) + len(response) + 2)
		b.add(bos(tok), false)
		b.add(prompt, opt.TrainOnInputs)
		b.add(response, true)
		b.add(eos(tok), true)
	case crucible.TaskText:
		text := tok.Encode(ex.Text)
		b.reserve(len(text) + 2)
		b.add(bos(tok), false)
		b.add(text, true)
		b.add(eos(tok), true)
	case crucible.TaskChat:
		if err := tokenizeChat(&b, tok, ex, opt); err != nil {
			return Sequence{}, err
		}
	default:
		return Sequence{}, errorf(ex.Pos, "", "cannot tokenize a %s example as one sequence", ex.Type)
	}
	return b.seq(ex.Pos, opt.MaxLength), nil
}

// appendEncoder is the fast path of a Tokenizer that appends int32 ids to
// a slice (ml/tokenizer's does): an instruct or text example is then
// encoded straight into its sequence, without a temporary slice per field.
type appendEncoder interface {
	AppendEncode(dst []int32, text string) []int32
}

// tokenizeAppend is Tokenize for instruct and text examples through
// AppendEncode; it gives the same sequence.
func tokenizeAppend(tok Tokenizer, ae appendEncoder, ex Example, opt TokenizeOptions) Sequence {
	first, second := ex.Prompt, ex.Response
	firstCounts := opt.TrainOnInputs
	if ex.Type == crucible.TaskText {
		first, second, firstCounts = "", ex.Text, true
	}
	ids := make([]int32, 0, (len(first)+len(second))/3+4)
	head := 0
	if tok.AddBOS() && tok.BOSID() >= 0 {
		ids = append(ids, int32(tok.BOSID()))
		head = 1
	}
	if first != "" {
		ids = ae.AppendEncode(ids, first)
	}
	split := len(ids)
	ids = ae.AppendEncode(ids, second)
	if e := tok.EOSID(); e >= 0 {
		ids = append(ids, int32(e))
	}
	labels := make([]int32, len(ids))
	copy(labels, ids)
	for i := 0; i < head; i++ {
		labels[i] = IgnoreIndex
	}
	if !firstCounts {
		for i := head; i < split; i++ {
			labels[i] = IgnoreIndex
		}
	}
	b := seqBuilder{ids: ids, labels: labels}
	return b.seq(ex.Pos, opt.MaxLength)
}

// Pair is a tokenized dpo example: the prompt followed by the chosen answer,
// and the prompt followed by the rejected one. Only answer tokens count.
type Pair struct {
	Pos       Pos
	Chosen    Sequence
	Rejected  Sequence
	PromptLen int // tokens of the prompt, BOS included, at the start of both
}

// TokenizePair tokenizes a dpo example as BOS + prompt + answer + EOS for
// both answers (a conversational prompt is rendered with the chat template,
// whose end-of-turn text then closes each answer instead of EOS). When a
// sequence is too long the prompt is cut from the left
// to at most half of MaxLength (keeping BOS and the prompt's end, next to
// the answer), then the answers are cut to fit.
func TokenizePair(tok Tokenizer, ex Example, opt TokenizeOptions) (Pair, error) {
	p, err := tokenizePair(tok, ex, opt)
	if err == nil && (p.Chosen.Counted() == 0 || p.Rejected.Counted() == 0) {
		err = errorf(ex.Pos, "", "no answer tokens left after truncation to %d tokens", opt.MaxLength)
	}
	return p, err
}

func tokenizePair(tok Tokenizer, ex Example, opt TokenizeOptions) (Pair, error) {
	if ex.Type != crucible.TaskDPO {
		return Pair{}, errorf(ex.Pos, "", "cannot tokenize a %s example as a preference pair", ex.Type)
	}
	head := bos(tok)
	var prompt, chosen, rejected []int
	if len(ex.Messages) > 0 {
		var err error
		if prompt, chosen, rejected, err = conversationalPair(tok, ex, opt); err != nil {
			return Pair{}, err
		}
		if head != nil && len(prompt) > 0 && prompt[0] == head[0] {
			head = nil // the template wrote BOS itself
		}
	} else {
		prompt = tok.Encode(ex.Prompt)
		chosen = append(tok.Encode(ex.Chosen), eos(tok)...)
		rejected = append(tok.Encode(ex.Rejected), eos(tok)...)
	}
	truncated := false
	if max := opt.MaxLength; max > 0 && len(head)+len(prompt)+maxInt(len(chosen), len(rejected)) > max {
		truncated = true
		if keep := max/2 - len(head); len(prompt) > keep {
			if keep < 0 {
				keep = 0
			}
			prompt = prompt[len(prompt)-keep:]
		}
		room := max - len(head) - len(prompt)
		if len(chosen) > room {
			chosen = chosen[:room]
		}
		if len(rejected) > room {
			rejected = rejected[:room]
		}
	}
	build := func(answer []int) Sequence {
		var b seqBuilder
		b.add(head, false)
		b.add(prompt, opt.TrainOnInputs)
		b.add(answer, true)
		s := b.seq(ex.Pos, 0)
		s.Truncated = truncated
		return s
	}
	return Pair{Pos: ex.Pos, Chosen: build(chosen), Rejected: build(rejected), PromptLen: len(head) + len(prompt)}, nil
}

// conversationalPair renders a dpo example whose prompt is a conversation
// with the chat template: the prompt with the opening of an assistant turn,
// and each answer as the rest of the conversation that answer completes
// (its end-of-turn text included, in place of EOS).
func conversationalPair(tok Tokenizer, ex Example, opt TokenizeOptions) (prompt, chosen, rejected []int, err error) {
	render := opt.ChatTemplate
	if render == nil {
		render = ChatML
	}
	head, err := render(ex.Messages, true)
	if err != nil {
		return nil, nil, nil, errorf(ex.Pos, "", "chat template: %v", err)
	}
	answer := func(a string) ([]int, error) {
		msgs := append(append([]Message(nil), ex.Messages...), Message{Role: RoleAssistant, Content: a})
		full, err := render(msgs, false)
		if err != nil {
			return nil, errorf(ex.Pos, "", "chat template: %v", err)
		}
		if !strings.HasPrefix(full, head) {
			return nil, errorf(ex.Pos, "", "chat template does not render the answer after the prompt; cannot tell which tokens are the answer's")
		}
		return tok.Encode(full[len(head):]), nil
	}
	if chosen, err = answer(ex.Chosen); err != nil {
		return nil, nil, nil, err
	}
	if rejected, err = answer(ex.Rejected); err != nil {
		return nil, nil, nil, err
	}
	return tok.Encode(head), chosen, rejected, nil
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// Length returns the number of tokens of an example, before truncation: the
// full sequence, the longer of a pair's two sequences, or a grpo prompt.
func Length(tok Tokenizer, ex Example, opt TokenizeOptions) (int, error) {
	opt.MaxLength = 0
	if ex.Type == crucible.TaskGRPO {
		return len(TokenizePrompt(tok, ex)), nil
	}
	if ex.Type == crucible.TaskDPO {
		p, err := TokenizePair(tok, ex, opt)
		if err != nil {
			return 0, err
		}
		return maxInt(len(p.Chosen.IDs), len(p.Rejected.IDs)), nil
	}
	s, err := Tokenize(tok, ex, opt)
	if err != nil {
		return 0, fmt.Errorf("tokenize: %w", err)
	}
	return len(s.IDs), nil
}

// TokenizeStats counts what tokenizing a set of examples did.
type TokenizeStats struct {
	Examples  int   `json:"examples"`  // examples given
	Truncated int   `json:"truncated"` // cut to MaxLength (and kept)
	Dropped   int   `json:"dropped"`   // left with no counted token after truncation, so not returned
	Tokens    int64 `json:"tokens"`    // tokens of the returned sequences
	Counted   int64 `json:"counted"`   // of which count in the loss
}

// TokenizeAll tokenizes instruct, chat or text examples. Sequences that
// truncation leaves without a counted token are dropped and counted, not
// returned: they would only dilute a batch.
func TokenizeAll(tok Tokenizer, exs []Example, opt TokenizeOptions) ([]Sequence, TokenizeStats, error) {
	st := TokenizeStats{Examples: len(exs)}
	out := make([]Sequence, 0, len(exs))
	for _, ex := range exs {
		s, err := Tokenize(tok, ex, opt)
		if err != nil {
			return nil, st, err
		}
		n := s.Counted()
		if n == 0 {
			st.Dropped++
			continue
		}
		if s.Truncated {
			st.Truncated++
		}
		st.Tokens += int64(len(s.IDs))
		st.Counted += int64(n)
		out = append(out, s)
	}
	return out, st, nil
}

// TokenizePairs tokenizes dpo examples, dropping (and counting) those
// whose answers truncation removes entirely.
func TokenizePairs(tok Tokenizer, exs []Example, opt TokenizeOptions) ([]Pair, TokenizeStats, error) {
	st := TokenizeStats{Examples: len(exs)}
	out := make([]Pair, 0, len(exs))
	for _, ex := range exs {
		p, err := tokenizePair(tok, ex, opt)
		if err != nil {
			return nil, st, err
		}
		if p.Chosen.Counted() == 0 || p.Rejected.Counted() == 0 {
			st.Dropped++
			continue
		}
		if p.Chosen.Truncated {
			st.Truncated++
		}
		st.Tokens += int64(len(p.Chosen.IDs) + len(p.Rejected.IDs))
		st.Counted += int64(p.Chosen.Counted() + p.Rejected.Counted())
		out = append(out, p)
	}
	return out, st, nil
}
