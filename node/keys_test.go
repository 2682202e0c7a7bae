package node

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
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

// TestFindModelAdapter checks that a --model directory holding only a
// PEFT adapter is refused with a hint when the adapter does not name its
// base, and when the base it names is not on this machine.
func TestFindModelAdapter(t *testing.T) {
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	dir := t.TempDir()
	write := func(cfg string) {
		if err := os.WriteFile(filepath.Join(dir, model.AdapterConfigFile), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]}`)
	if _, _, err := FindModelAdapter(dir, "", io.Discard); crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(crucible.ErrorHint(err), "--adapter") {
		t.Errorf("adapter without a base: %v (hint %q)", err, crucible.ErrorHint(err))
	}
	write(`{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["q_proj"], "base_model_name_or_path": "nobody/nothing"}`)
	if _, _, err := FindModelAdapter(dir, "", io.Discard); crucible.ErrorCode(err) != crucible.ENOTFOUND || !strings.Contains(crucible.ErrorHint(err), "crucible data pull nobody/nothing") {
		t.Errorf("adapter over a missing base: %v (hint %q)", err, crucible.ErrorHint(err))
	}
	if _, err := FindModel(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing model was found")
	}
}

// TestImportAndNewKeys checks keys new and keys import: the development
// key Alice from an empty phrase and a derivation, a derivation path that
// does not start with '/', nothing to import, and a new key that loads.
func TestImportAndNewKeys(t *testing.T) {
	dir := t.TempDir()
	path, kp, err := KeysImportConfig{KeyConfig: KeyConfig{Name: "alice", Dir: dir}, Derive: "//Alice"}.Import("")
	if err != nil || kp.Address() != "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY" || path != filepath.Join(dir, "alice") {
		t.Fatalf("//Alice: %v %v", kp, err)
	}
	if _, _, err := (KeysImportConfig{KeyConfig: KeyConfig{Name: "x", Dir: dir}, Derive: "Alice"}).Import(""); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("derivation without '/': %v", err)
	}
	if _, _, err := (KeysImportConfig{KeyConfig: KeyConfig{Name: "x", Dir: dir}}).Import("  "); crucible.ErrorCode(err) != crucible.EINVALID || crucible.ErrorHint(err) == "" {
		t.Errorf("nothing to import: %v", err)
	}
	path, kp, phrase, err := KeysNewConfig{KeyConfig: KeyConfig{Name: "fresh", Dir: dir}}.New()
	if err != nil || len(strings.Fields(phrase)) < 12 {
		t.Fatalf("new: %q %v", phrase, err)
	}
	again, err := sign.FromURI(phrase)
	if err != nil || again.Address() != kp.Address() {
		t.Errorf("the mnemonic does not restore the key: %v", err)
	}
	if loaded, err := (KeyConfig{Name: path}).Load(); err != nil || loaded.Address() != kp.Address() {
		t.Errorf("load by path: %v", err)
	}
}
