package node

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/data/hub"
	"github.com/crucible-net/crucible/ml/model"
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

// AssetModels lists the model directories under dir whose config.json
// names an architecture crucible loads (see UnsupportedAssetModels for the
// others), by name.
func AssetModels(dir string) []string {
	ok, _ := scanAssetModels(dir)
	return ok
}

// UnsupportedAssetModels names the model directories under dir (those with
// a config.json) that crucible cannot load, with the reason: an
// unsupported architecture or a config key it does not compute.
func UnsupportedAssetModels(dir string) map[string]error {
	_, bad := scanAssetModels(dir)
	return bad
}

func scanAssetModels(dir string) (ok []string, bad map[string]error) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		st, err := os.Stat(filepath.Join(dir, e.Name(), "config.json"))
		if err != nil || st.IsDir() {
			continue
		}
		if _, err := model.ReadConfig(filepath.Join(dir, e.Name())); err != nil {
			if bad == nil {
				bad = map[string]error{}
			}
			bad[e.Name()] = err
			continue
		}
		ok = append(ok, e.Name())
	}
	return ok, bad
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
	for _, a := range []string{assets.BaseModel, assets.Facts, assets.Definitions, assets.FactsDPO, assets.Arithmetic, assets.ArithmeticRewards} {
		if _, err := assets.Extract(a, dir); err != nil {
			return err
		}
	}
	return nil
}
