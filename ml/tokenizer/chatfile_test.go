package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatTemplateFiles checks that a chat template shipped in its own file
// (chat_template.jinja, or chat_template.json) wins over tokenizer_config's,
// survives Save, and that a malformed chat_template.json is refused.
func TestChatTemplateFiles(t *testing.T) {
	msgs := []Message{{Role: "user", Content: "hi"}}
	for _, tc := range []struct{ file, data, want string }{
		{"chat_template.jinja", "{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}", "[user:hi]"},
		{"chat_template.json", `{"chat_template": "{{ messages[0].content | upper }}"}`, "HI"},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tinyJSON), 0o644)
		os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(`{"chat_template": "config's"}`), 0o644)
		os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.data), 0o644)
		tok, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tok.ApplyChatTemplate(msgs, false); err != nil || got != tc.want {
			t.Errorf("%s: rendered %q, %v; want %q", tc.file, got, err, tc.want)
		}
		out := t.TempDir()
		if err := tok.Save(out); err != nil {
			t.Fatal(err)
		}
		again, err := Load(out)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := again.ApplyChatTemplate(msgs, false); got != tc.want {
			t.Errorf("%s after Save: rendered %q, want %q", tc.file, got, tc.want)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tinyJSON), 0o644)
	os.WriteFile(filepath.Join(dir, "chat_template.json"), []byte(`["not", "an", "object"]`), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "chat_template.json") {
		t.Errorf("malformed chat_template.json: %v", err)
	}
}
