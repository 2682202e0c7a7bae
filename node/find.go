package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/model"
)

// FindModel finds the model a command was given: a directory, a
// Hugging Face id in the local cache, or the name of a shipped model
// (crucible-tiny, extracted under $CRUCIBLE_HOME/assets on first use).
func FindModel(name string) (string, error) {
	dir, err := (hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}).Resolve(name)
	if err == nil || filepath.Base(name) != name {
		return dir, err
	}
	assets, aerr := ShippedModels(DefaultAssets, filepath.Join(Home(), "assets"), nil)
	if aerr != nil {
		return "", err
	}
	if d, merr := NewModels(assets).ResolveModel(context.Background(), name); merr == nil {
		return d, nil
	}
	return "", err
}

// FindModelAdapter resolves a command's --model and --adapter. A --model directory
// that holds a PEFT adapter and no model (what a LoRA winner downloads as)
// becomes the adapter over the base its adapter_config.json names, when
// that base resolves; otherwise the error says how to name the base.
func FindModelAdapter(modelName, adapter string, note io.Writer) (dir, adapterDir string, err error) {
	dir, err = FindModel(modelName)
	if err != nil {
		return "", "", err
	}
	if adapter != "" || !isFile(filepath.Join(dir, model.AdapterConfigFile)) || isFile(filepath.Join(dir, "config.json")) {
		return dir, adapter, nil
	}
	lc, err := model.ReadLoRAConfig(dir)
	if err != nil {
		return "", "", err
	}
	hint := fmt.Sprintf("pass the base with --model BASE --adapter %s, or download the winner merged into its base: crucible tasks download TASK --merged", dir)
	if lc.BaseModel == "" {
		return "", "", crucible.Errorf(crucible.EINVALID, "%s is a LoRA adapter that does not name its base model", dir).WithHint(hint)
	}
	base, err := FindModel(lc.BaseModel)
	if err != nil {
		return "", "", crucible.Errorf(crucible.ENOTFOUND, "%s is a LoRA adapter over %s, which is not on this machine", dir, lc.BaseModel).
			WithHint("fetch it with: crucible data pull " + lc.BaseModel + "; or " + hint)
	}
	fmt.Fprintf(note, "%s is a LoRA adapter: applying it to its base %s (%s)\n", dir, lc.BaseModel, base)
	return base, dir, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
