package data

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// TRL's conversational preference rows: the prompt a list of messages, the
// answers lists holding one assistant message.
const convDPO = `{"prompt":[{"role":"user","content":"Capital of France?"}],"chosen":[{"role":"assistant","content":"Paris."}],"rejected":[{"role":"assistant","content":"Rome."}],"system":"Be brief."}
{"prompt":[{"role":"user","content":"2+2?"}],"chosen":[{"role":"assistant","content":"4"}],"rejected":[{"role":"assistant","content":"5"}],"system":""}
`

func TestConversationalDPO(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "pref.jsonl", convDPO)
	d, err := DetectFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := crucible.ColumnMapping{FieldPrompt: "prompt", FieldChosen: "chosen", FieldRejected: "rejected", FieldSystem: "system", PromptFormat: "{system} {prompt}"}
	if d.Type != crucible.TaskDPO || d.Mapping != want || !strings.Contains(d.Reason, "conversational") {
		t.Fatalf("detected %s %+v %q", d.Type, d.Mapping, d.Reason)
	}
	exs, err := Examples(path, d.Type, d.Mapping)
	if err != nil {
		t.Fatal(err)
	}
	ex := exs[0]
	if ex.Prompt != "" || len(ex.Messages) != 2 || ex.Messages[0] != (Message{RoleSystem, "Be brief."}) || ex.Chosen != "Paris." || ex.Rejected != "Rome." {
		t.Fatalf("example %+v", ex)
	}
	tok := byteTokenizer{}
	p, err := TokenizePair(tok, ex, TokenizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tok.Decode(toInts(p.Chosen.IDs[:p.PromptLen])); got != "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("prompt %q", got)
	}
	if counted(tok, p.Chosen) != "Paris.<|im_end|>\n" || counted(tok, p.Rejected) != "Rome.<|im_end|>\n" {
		t.Errorf("answers %q / %q", counted(tok, p.Chosen), counted(tok, p.Rejected))
	}
	if exs[0].PromptKey() == exs[1].PromptKey() || !strings.Contains(exs[1].PromptKey(), "2+2?") {
		t.Errorf("prompt keys %q %q", exs[0].PromptKey(), exs[1].PromptKey())
	}

	// Prepared splits keep the conversation and read back the same.
	var train, test bytes.Buffer
	prep, err := Prepare(path, PrepareOptions{Split: SplitOptions{MinRows: 2}}, &train, &test)
	if err != nil {
		t.Fatal(err)
	}
	all := writeFile(t, dir, "all.jsonl", train.String()+test.String())
	back, err := Examples(all, prep.Type, prep.Mapping)
	if err != nil || len(back) != 2 {
		t.Fatalf("read back: %v %d", err, len(back))
	}
	for _, b := range back {
		if b.Messages == nil || (b.Chosen != "Paris." && b.Chosen != "4") {
			t.Errorf("read back %+v", b)
		}
	}
}

func TestConversationalDPOShareGPTRoles(t *testing.T) {
	path := writeFile(t, t.TempDir(), "p.jsonl",
		`{"question":[{"from":"human","value":"Hi"}],"chosen":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"}],"rejected":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Go away"}]}`+"\n")
	d, err := DetectFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.Mapping.ChatRoleField != "from" || d.Mapping.ChatContentField != "value" || d.Mapping.ChatUserRole != "human" || d.Mapping.ChatAssistRole != "gpt" {
		t.Fatalf("mapping %+v", d.Mapping)
	}
	exs, err := Examples(path, d.Type, d.Mapping)
	if err != nil || exs[0].Chosen != "Hello" || exs[0].Rejected != "Go away" || exs[0].Messages[0] != (Message{RoleUser, "Hi"}) {
		t.Errorf("examples %+v %v", exs, err)
	}
	bad := writeFile(t, t.TempDir(), "b.jsonl", `{"prompt":"x","chosen":[{"role":"user","content":"no answer"}],"rejected":"r"}`+"\n")
	f, _ := NewFormatter(crucible.TaskDPO, crucible.ColumnMapping{FieldPrompt: "prompt", FieldChosen: "chosen", FieldRejected: "rejected"})
	r, _ := Open(bad)
	row, _ := r.Next()
	r.Close()
	if _, err := f.Example(row); err == nil || !strings.Contains(err.Error(), "b.jsonl:1: chosen: conversation has no assistant message") {
		t.Errorf("no assistant: %v", err)
	}
}
