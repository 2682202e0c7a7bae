package data

import (
	"reflect"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

func TestTokenize(t *testing.T) {
	tok := byteTokenizer{addBOS: true}
	tests := []struct {
		name    string
		tok     byteTokenizer
		ex      Example
		opt     TokenizeOptions
		text    string // decoded ids
		counted string // decoded counted labels
		trunc   bool
	}{
		{"instruct", tok, Example{Type: crucible.TaskInstruct, Prompt: "Q ", Response: "A"}, TokenizeOptions{},
			"<bos>Q A<eos>", "A<eos>", false},
		{"instruct train on inputs", tok, Example{Type: crucible.TaskInstruct, Prompt: "Q ", Response: "A"}, TokenizeOptions{TrainOnInputs: true},
			"<bos>Q A<eos>", "Q A<eos>", false},
		{"instruct without BOS or EOS", byteTokenizer{noEOS: true}, Example{Type: crucible.TaskInstruct, Prompt: "Q", Response: "A"}, TokenizeOptions{},
			"QA", "A", false},
		{"instruct truncated", tok, Example{Type: crucible.TaskInstruct, Prompt: "Q ", Response: "ABCDEF"}, TokenizeOptions{MaxLength: 5},
			"<bos>Q AB", "AB", true},
		{"text", tok, Example{Type: crucible.TaskText, Text: "hey"}, TokenizeOptions{},
			"<bos>hey<eos>", "hey<eos>", false},
		{"chat counts only assistant turns", byteTokenizer{}, Example{Type: crucible.TaskChat, Messages: []Message{
			{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}, {"assistant", "A2"}}}, TokenizeOptions{},
			"<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\nA2<|im_end|>\n",
			"A1<|im_end|>\n|A2<|im_end|>\n", false},
		{"chat with BOS", tok, Example{Type: crucible.TaskChat, Messages: []Message{{"user", "U"}, {"assistant", "A"}}}, TokenizeOptions{},
			"<bos><|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n", "A<|im_end|>\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Tokenize(tt.tok, tt.ex, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.IDs) != len(s.Labels) {
				t.Fatalf("%d ids, %d labels", len(s.IDs), len(s.Labels))
			}
			ids := make([]int, len(s.IDs))
			for i, id := range s.IDs {
				ids[i] = int(id)
			}
			if got := tt.tok.Decode(ids); got != tt.text {
				t.Errorf("text %q, want %q", got, tt.text)
			}
			if got := counted(tt.tok, s); got != tt.counted {
				t.Errorf("counted %q, want %q", got, tt.counted)
			}
			if s.Truncated != tt.trunc {
				t.Errorf("truncated %v", s.Truncated)
			}
		})
	}
}

func TestTokenizeChatUnstableTemplate(t *testing.T) {
	// A template that renders the last message differently (as Qwen3's
	// does) is read by finding each message's text in order; EOS text
	// right after an answer counts with it.
	unstable := func(msgs []Message, gen bool) (string, error) {
		s := ""
		for i, m := range msgs {
			if i == len(msgs)-1 && !gen {
				s += "[last]"
			}
			s += m.Role + ":" + m.Content
			if m.Role == RoleAssistant {
				s += "<eos>"
			}
			s += "\n"
		}
		return s, nil
	}
	tok := byteTokenizer{}
	ex := Example{Type: crucible.TaskChat, Messages: []Message{{"user", "A"}, {"assistant", "A"}, {"user", "V"}, {"assistant", " B "}}}
	s, err := Tokenize(tok, ex, TokenizeOptions{ChatTemplate: unstable})
	if err != nil {
		t.Fatal(err)
	}
	// "A" is found after the user's "A", not inside it; " B " is found
	// whole; <eos> is a special token of the test tokenizer only as text
	// here, so it counts as the text following the answer.
	if got := counted(tok, s); got != "A<eos>| B <eos>|" {
		t.Errorf("counted %q", got)
	}
	// A template that rewrites the text cannot be read.
	shout := func(msgs []Message, gen bool) (string, error) {
		rot := make([]Message, len(msgs))
		for i, m := range msgs {
			rot[i] = Message{m.Role, strings.Map(func(r rune) rune {
				if r >= 'A' && r <= 'Z' {
					return 'A' + (r-'A'+13)%26
				}
				return r
			}, m.Content)}
		}
		return unstable(rot, gen)
	}
	if _, err := Tokenize(tok, ex, TokenizeOptions{ChatTemplate: shout}); err == nil || !strings.Contains(err.Error(), "does not render the text of turn") {
		t.Errorf("rewriting template: %v", err)
	}
}

func TestTokenizePair(t *testing.T) {
	tok := byteTokenizer{addBOS: true}
	ex := Example{Type: crucible.TaskDPO, Prompt: "PROMPT", Chosen: "yes", Rejected: "no"}
	p, err := TokenizePair(tok, ex, TokenizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.PromptLen != 7 || counted(tok, p.Chosen) != "yes<eos>" || counted(tok, p.Rejected) != "no<eos>" {
		t.Errorf("pair %+v", p)
	}
	if !reflect.DeepEqual(p.Chosen.IDs[:p.PromptLen], p.Rejected.IDs[:p.PromptLen]) {
		t.Error("prompts differ")
	}
	// Truncation keeps BOS and the end of the prompt, then cuts answers.
	p, err = TokenizePair(tok, ex, TokenizeOptions{MaxLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(s Sequence) string {
		out := make([]int, len(s.IDs))
		for i, id := range s.IDs {
			out[i] = int(id)
		}
		return tok.Decode(out)
	}
	if got := ids(p.Chosen); got != "<bos>MPTyes<eos>" || !p.Chosen.Truncated {
		t.Errorf("truncated chosen %q", got)
	}
	if got := ids(p.Rejected); got != "<bos>MPTno<eos>" {
		t.Errorf("truncated rejected %q", got)
	}
	if _, err := TokenizePair(tok, ex, TokenizeOptions{MaxLength: 1}); err == nil {
		t.Error("no room for answers: no error")
	}
	if _, err := TokenizePair(tok, Example{Type: crucible.TaskText}, TokenizeOptions{}); err == nil {
		t.Error("text as pair: no error")
	}
}

func TestPacker(t *testing.T) {
	seq := func(ids ...int32) Sequence {
		labels := append([]int32(nil), ids...)
		return Sequence{IDs: ids, Labels: labels}
	}
	p := Packer{Length: 6, PadID: 0}
	var rows []Packed
	rows = append(rows, p.Add(seq(10, 11, 12))...)
	rows = append(rows, p.Add(seq(20, 21))...)
	rows = append(rows, p.Add(seq(30, 31, 32))...) // does not fit: new row
	rows = append(rows, p.Add(seq(40, 41, 42, 43, 44, 45, 46, 47))...)
	rows = append(rows, p.Flush()...)
	want := []Packed{
		{IDs: []int32{10, 11, 12, 20, 21, 0}, Labels: []int32{-100, 11, 12, -100, 21, -100}, Starts: []int{0, 3}, Used: 5},
		{IDs: []int32{30, 31, 32, 0, 0, 0}, Labels: []int32{-100, 31, 32, -100, -100, -100}, Starts: []int{0}, Used: 3},
		{IDs: []int32{40, 41, 42, 43, 44, 45}, Labels: []int32{-100, 41, 42, 43, 44, 45}, Starts: []int{0}, Used: 6},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows\n got %+v\nwant %+v", rows, want)
	}
	if p.Truncated != 1 {
		t.Errorf("truncated %d", p.Truncated)
	}
	if got := p.Flush(); got != nil {
		t.Errorf("second flush %v", got)
	}
}

func TestTokenizeAllStats(t *testing.T) {
	tok := byteTokenizer{addBOS: true}
	exs := []Example{
		{Type: crucible.TaskInstruct, Prompt: "Q", Response: "A"},                  // 4 tokens, 2 counted
		{Type: crucible.TaskInstruct, Prompt: "Q long", Response: "Answer"},        // truncated to 8: "<bos>Q long A"
		{Type: crucible.TaskInstruct, Prompt: "A very long prompt", Response: "x"}, // nothing counted after truncation
	}
	seqs, st, err := TokenizeAll(tok, exs, TokenizeOptions{MaxLength: 8})
	if err != nil {
		t.Fatal(err)
	}
	want := TokenizeStats{Examples: 3, Truncated: 1, Dropped: 1, Tokens: 4 + 8, Counted: 2 + 1}
	if st != want || len(seqs) != 2 {
		t.Errorf("stats %+v, want %+v (%d sequences)", st, want, len(seqs))
	}
	pairs := []Example{
		{Type: crucible.TaskDPO, Prompt: "P", Chosen: "yes", Rejected: "no"},
		{Type: crucible.TaskDPO, Prompt: "P", Chosen: "a much longer answer", Rejected: "no"},
	}
	ps, st, err := TokenizePairs(tok, pairs, TokenizeOptions{MaxLength: 6})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || st.Truncated != 1 || st.Dropped != 0 || st.Counted != 4+3+4+3 {
		t.Errorf("pairs %d, stats %+v", len(ps), st)
	}
	if _, st, _ := TokenizePairs(tok, pairs, TokenizeOptions{MaxLength: 1}); st.Dropped != 2 {
		t.Errorf("no room: stats %+v", st)
	}
}
