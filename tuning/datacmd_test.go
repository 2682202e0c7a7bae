package tuning

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/ml/model"
)

// TestDescribeModel checks what data pull says of a downloaded model:
// a supported family with its notes, or why crucible cannot load it.
func TestDescribeModel(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	DescribeModel(dir, &out) // no config.json pulled: nothing to say
	if out.Len() != 0 {
		t.Errorf("without config.json: %q", out.String())
	}
	cfg, err := model.ReferenceConfigJSON("gpt2")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	DescribeModel(dir, &out)
	if s := out.String(); !strings.Contains(s, "GPT2LMHeadModel") || !strings.Contains(s, "124M parameters") || !strings.Contains(s, "resid_pdrop") {
		t.Errorf("gpt2: %q", s)
	}
	out.Reset()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"architectures":["OlmoeForCausalLM"],"model_type":"olmoe"}`), 0o644)
	DescribeModel(dir, &out)
	if s := out.String(); !strings.Contains(s, "cannot train") || !strings.Contains(s, "OlmoeForCausalLM") || !strings.Contains(s, "supported:") {
		t.Errorf("olmoe: %q", s)
	}
}
