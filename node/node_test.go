package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/node"
)

// TestShippedModels checks where the validator and the auditor find the
// models they offer: --assets when it holds any, the copy inside the binary
// when the default --assets is missing (run outside the repository), and a
// given empty directory is kept as given.
func TestShippedModels(t *testing.T) {
	withModel := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withModel, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	qwen3, err := model.ReferenceConfigJSON("Qwen3-0.6B")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withModel, "m", "config.json"), qwen3, 0o644); err != nil {
		t.Fatal(err)
	}
	// A model crucible cannot load is not offered, and is named with why.
	if err := os.MkdirAll(filepath.Join(withModel, "bert"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withModel, "bert", "config.json"), []byte(`{"architectures":["BertForMaskedLM"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if bad := node.UnsupportedAssetModels(withModel); len(bad) != 1 || bad["bert"] == nil || !strings.Contains(bad["bert"].Error(), "unsupported architecture") {
		t.Errorf("unsupported models: %v", bad)
	}
	empty := t.TempDir()
	work := t.TempDir()
	tests := []struct {
		name, dir, want string
		models          []string
	}{
		{"a directory with models", withModel, withModel, []string{"m"}},
		{"the default, missing here", node.DefaultAssets, filepath.Join(work, "models"), []string{"crucible-tiny"}},
		{"a given empty directory", empty, empty, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := node.ShippedModels(tt.dir, work, nil)
			if err != nil || got != tt.want {
				t.Fatalf("shippedModels(%s) = %s, %v, want %s", tt.dir, got, err, tt.want)
			}
			if models := node.AssetModels(got); !slices.Equal(models, tt.models) {
				t.Errorf("models in %s: %v, want %v", got, models, tt.models)
			}
		})
	}
	// The extracted copy carries the shipped datasets for synthetic tasks.
	if st, err := os.Stat(filepath.Join(work, "datasets", "facts.jsonl")); err != nil || st.IsDir() {
		t.Error("datasets not extracted next to the models")
	}
}

// TestStateLock checks that a second node on the same state is refused
// with ECONFLICT naming the holder, and admitted once the first lets go.
func TestStateLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	first, err := node.OpenState(dir, "validator")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v", st.Mode(), err)
	}
	_, err = node.OpenState(dir, "validator")
	if crucible.ErrorCode(err) != crucible.ECONFLICT || !strings.Contains(err.Error(), "in use by another validator") ||
		!strings.Contains(err.Error(), "process") || crucible.ErrorHint(err) == "" {
		t.Fatalf("second validator on the same state: %v", err)
	}
	// Another role on the same directory is a separate lock.
	m, err := node.OpenState(dir, "miner")
	if err != nil {
		t.Fatalf("a miner beside the validator: %v", err)
	}
	m.Release()
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := node.OpenState(dir, "validator")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again.Release()
	again.Release() // releasing twice is harmless
}

func TestExpandHome(t *testing.T) {
	t.Setenv("CRUCIBLE_HOME", "/srv/crucible")
	for in, want := range map[string]string{
		"$CRUCIBLE_HOME":                 "/srv/crucible",
		"$CRUCIBLE_HOME/chain.json":      "/srv/crucible/chain.json",
		"$CRUCIBLE_HOMEX/a":              "$CRUCIBLE_HOMEX/a",
		"relative/chain.json":            "relative/chain.json",
		"/abs/$CRUCIBLE_HOME/chain.json": "/abs/$CRUCIBLE_HOME/chain.json",
	} {
		if got := node.ExpandHome(in); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
	if node.Home() != "/srv/crucible" {
		t.Errorf("Home() = %s", node.Home())
	}
}

// TestLinkSignerPersists checks that the link-signing key survives a
// restart (links handed out before still verify) and that a damaged key is
// refused rather than replaced silently.
func TestLinkSignerPersists(t *testing.T) {
	st, err := node.OpenState(t.TempDir(), "validator")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	a, err := node.LinkSigner(st)
	if err != nil {
		t.Fatal(err)
	}
	b, err := node.LinkSigner(st)
	if err != nil {
		t.Fatal(err)
	}
	if a.Sign("tasks/x/train.jsonl", 99) != b.Sign("tasks/x/train.jsonl", 99) {
		t.Error("link key changed between two opens")
	}
	info, err := os.Stat(st.Path("keys", "links.key"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("link key file: %v %v", info, err)
	}
	os.WriteFile(st.Path("keys", "links.key"), []byte("short"), 0o600)
	if _, err := node.LinkSigner(st); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("damaged link key: %v", err)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "v.json")
	a, err := node.LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := node.LoadOrCreateKey(path)
	if err != nil || a.Address() != b.Address() {
		t.Fatalf("key not kept: %v", err)
	}
	var warn bytes.Buffer
	if _, err := node.ShippedModels(t.TempDir(), t.TempDir(), &warn); err != nil || !strings.Contains(warn.String(), "warning") {
		t.Errorf("empty models directory: %v %q", err, warn.String())
	}
}
