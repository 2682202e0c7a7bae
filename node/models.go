package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/data/hub"
)

// Models finds models by name: a shipped asset (a directory under the
// assets' models folder), a path, or a Hugging Face id in the local cache.
// It implements validator.Models and auditor.Models.
type Models struct {
	Assets string // directory holding model directories by name; may be ""
	Hub    hub.Resolver
}

// NewModels returns a resolver of the models under assets and in the
// default Hugging Face cache.
func NewModels(assets string) *Models {
	return &Models{Assets: assets, Hub: hub.Resolver{Cache: hub.Cache{Dir: hub.DefaultCacheDir()}, Kind: hub.Model}}
}

// ResolveModel returns the directory of the model named name.
func (m *Models) ResolveModel(_ context.Context, name string) (string, error) {
	if m.Assets != "" && filepath.Base(name) == name {
		dir := filepath.Join(m.Assets, name)
		if st, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && !st.IsDir() {
			return dir, nil
		}
	}
	return m.Hub.Resolve(name)
}

// Names lists the model directories under the assets folder, by name: the
// models a validator offers its customers.
func (m *Models) Names() []string { return AssetModels(m.Assets) }

// AssetModels lists the model directories (those with a config.json) under
// dir, by name.
func AssetModels(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if st, err := os.Stat(filepath.Join(dir, e.Name(), "config.json")); err == nil && !st.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// DefaultAssets is the default models directory of the validator and the
// auditor: the shipped models of the repository, relative to where it runs.
var DefaultAssets = filepath.Join("assets", "models")

// ShippedModels returns the directory of shipped models a node offers by
// name. Run outside the repository with the default directory, it has none
// there, so the shipped models and datasets embedded in the binary are
// extracted under work (once) and that copy is used. A directory given
// explicitly that holds no model is kept, with a warning on warn.
func ShippedModels(dir, work string, warn io.Writer) (string, error) {
	if len(AssetModels(dir)) > 0 {
		return dir, nil
	}
	if filepath.Clean(dir) != DefaultAssets {
		if warn != nil {
			fmt.Fprintf(warn, "warning: no model directories (with config.json) under --assets %s: customers can name no shipped model\n", dir)
		}
		return dir, nil
	}
	if err := ExtractAssets(work); err != nil {
		return "", err
	}
	return filepath.Join(work, "models"), nil
}

// ExtractAssets writes the shipped base model and datasets embedded in the
// binary under dir (models/ and datasets/), unless they are there already.
func ExtractAssets(dir string) error {
	if st, err := os.Stat(filepath.Join(dir, "models", assets.BaseModel, "config.json")); err == nil && !st.IsDir() {
		return nil
	}
	for _, a := range []string{assets.BaseModel, assets.Facts, assets.Definitions, assets.FactsDPO} {
		if _, err := assets.Extract(a, dir); err != nil {
			return err
		}
	}
	return nil
}
