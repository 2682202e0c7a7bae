package data

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
)

// DataFile is one data file of a dataset directory and the split it
// belongs to.
type DataFile struct {
	Path  string
	Split string // "train", "validation", "test", or "" when the name says none
}

// splitOrder ranks split names; the train split comes first.
var splitOrder = map[string]int{"train": 0, "validation": 1, "test": 2, "": 3}

// splitAliases maps the split names seen in the wild to Hugging Face's.
var splitAliases = map[string]string{
	"train": "train", "training": "train",
	"validation": "validation", "valid": "validation", "val": "validation", "dev": "validation", "eval": "validation",
	"test": "test", "testing": "test",
}

// SplitOf names the split a data file belongs to, from its base name
// ("train-00000-of-00001.parquet", "test.jsonl") or its folder ("train/0000.parquet").
func SplitOf(path string) string {
	base := strings.ToLower(filepath.Base(path))
	if i := strings.IndexAny(base, "-_."); i > 0 {
		if s, ok := splitAliases[base[:i]]; ok {
			return s
		}
	}
	for dir := filepath.Dir(path); dir != "." && dir != "/" && dir != ""; dir = filepath.Dir(dir) {
		if s, ok := splitAliases[strings.ToLower(filepath.Base(dir))]; ok {
			return s
		}
	}
	return ""
}

// DataFiles lists the data files of a directory in Hugging Face dataset
// layout. When README.md declares configs in its front matter, the files are
// those of the default config (the one marked default, else "default",
// else the first), as Hugging Face loads them. Otherwise they are found by
// name (data/train-00000-of-00001.parquet, train.jsonl, test/0000.parquet,
// ...), recursively, skipping hidden folders. Files are ordered by split
// (train, validation, test, others) and then by path, so that the order, and
// everything derived from it, is the same on every machine. A directory that
// holds files of more than one format keeps only the most common format (a
// dataset repository often carries both its JSON source and a Parquet
// conversion of it).
func DataFiles(dir string) ([]string, error) {
	configs, err := ReadConfigs(dir)
	if err != nil {
		return nil, err
	}
	if len(configs) > 0 && len(defaultConfig(configs).Files) > 0 {
		files, err := configFiles(dir, defaultConfig(configs))
		if err != nil {
			return nil, err
		}
		var out []string
		for _, f := range files {
			if _, ok := FormatOf(f); ok {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("dataset directory %s: the default config of README.md names no .json, .jsonl, .csv, .tsv or .parquet files", dir)
		}
		return out, nil
	}
	var files []DataFile
	count := map[Format]int{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != dir && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(name, ".") {
			return nil
		}
		if f, ok := FormatOf(name); ok {
			if name == "dataset_info.json" || name == "dataset_infos.json" || name == "state.json" {
				return nil // Hugging Face metadata, not data
			}
			files = append(files, DataFile{Path: path, Split: SplitOf(strings.TrimPrefix(path, dir))})
			count[f]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list dataset %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dataset directory %s holds no .json, .jsonl, .csv, .tsv or .parquet files", dir)
	}
	best := Format("")
	for _, f := range []Format{FormatParquet, FormatJSONL, FormatJSON, FormatCSV, FormatTSV} {
		if count[f] > count[best] {
			best = f
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := files[i], files[j]
		if splitOrder[a.Split] != splitOrder[b.Split] {
			return splitOrder[a.Split] < splitOrder[b.Split]
		}
		return a.Path < b.Path
	})
	var out []string
	for _, f := range files {
		if ff, _ := FormatOf(f.Path); ff == best {
			out = append(out, f.Path)
		}
	}
	return out, nil
}
