package node

import (
	"path/filepath"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

// TestKeyConfig checks named keys: saved in the directory, loaded back,
// not replaced without force, listed by name, and bad names and missing
// keys refused with the code and hint an operator needs.
func TestKeyConfig(t *testing.T) {
	dir := t.TempDir()
	kp, _, err := sign.Generate()
	if err != nil {
		t.Fatal(err)
	}
	c := KeyConfig{Name: "validator", Dir: dir}
	path, err := c.Save(kp, "", false)
	if err != nil || path != filepath.Join(dir, "validator") {
		t.Fatalf("save: %q %v", path, err)
	}
	got, err := c.Load()
	if err != nil || got.Address() != kp.Address() {
		t.Fatalf("load: %v", err)
	}
	if _, err := c.Save(kp, "", false); crucible.ErrorCode(err) != crucible.ECONFLICT || crucible.ErrorHint(err) == "" {
		t.Errorf("save over an existing key: %v", err)
	}
	if _, err := c.Save(kp, "", true); err != nil {
		t.Errorf("save with force: %v", err)
	}
	if _, err := (KeyConfig{Name: "../x", Dir: dir}).Path(); err != nil {
		t.Errorf("a path is taken as it is: %v", err)
	}
	if _, err := (KeyConfig{Name: "bad name!", Dir: dir}).Path(); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("bad name: %v", err)
	}
	if _, err := (KeyConfig{Name: "missing", Dir: dir}).Load(); crucible.ErrorCode(err) != crucible.ENOTFOUND || crucible.ErrorHint(err) == "" {
		t.Errorf("missing key: %v", err)
	}
	keys, err := ListKeys(dir)
	if err != nil || len(keys) != 1 || keys[0].Name != "validator" || keys[0].Err != nil || keys[0].Key.Address() != kp.Address() {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if keys, err := ListKeys(filepath.Join(dir, "none")); err != nil || len(keys) != 0 {
		t.Errorf("list a missing directory: %v %v", keys, err)
	}
}
