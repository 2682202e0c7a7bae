package console

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// TestConnResolution checks where a customer command finds its validator
// and key: the settings first, then CRUCIBLE_API_KEY, then the files a
// saved key left in the state directory; none is an unauthorized error
// with a hint.
func TestConnResolution(t *testing.T) {
	t.Setenv("CRUCIBLE_API_KEY", "")
	home := t.TempDir()
	c := &Conn{Home: home}
	if c.ServerURL() != DefaultServer {
		t.Errorf("default server %q", c.ServerURL())
	}
	if _, err := c.Client(); crucible.ErrorCode(err) != crucible.EUNAUTHORIZED || crucible.ErrorHint(err) == "" {
		t.Fatalf("no key: %v", err)
	}
	saver := &Conn{Home: home, Server: "http://validator.example:8090/"}
	if err := saver.SaveKey("crk_saved"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(home, "api_key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("saved key file: %v %v", st, err)
	}
	cl, err := c.Client()
	if err != nil || cl.BaseURL != "http://validator.example:8090" {
		t.Fatalf("saved key and server: %+v %v", cl, err)
	}
	t.Setenv("CRUCIBLE_API_KEY", "crk_env")
	c.Server = "http://other:1"
	if cl, err := c.Client(); err != nil || cl.BaseURL != "http://other:1" {
		t.Fatalf("setting over saved server: %+v %v", cl, err)
	}
	var out bytes.Buffer
	c.JSON = true
	if err := c.Print(&out, map[string]int{"a": 1}, nil); err != nil || !strings.Contains(out.String(), `"a": 1`) {
		t.Errorf("json print: %q %v", out.String(), err)
	}
}

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping([]string{"field_instruction=question", "field_output=answer"})
	if err != nil || m.FieldInstruction != "question" || m.FieldOutput != "answer" {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := ParseMapping([]string{"nofield"}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("no '=': %v", err)
	}
	if _, err := ParseMapping([]string{"field_bogus=x"}); crucible.ErrorCode(err) != crucible.EINVALID || crucible.ErrorHint(err) == "" {
		t.Errorf("unknown field: %v", err)
	}
}
