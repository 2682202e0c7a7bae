package data

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is one configuration of a Hugging Face dataset, as its README.md
// front matter declares it:
//
//	configs:
//	- config_name: default
//	  data_files:
//	  - split: train
//	    path: data/train-*
type Config struct {
	Name    string
	Default bool
	// Files maps each split to its path patterns, relative to the dataset
	// directory ("*" within a folder, "**" across folders).
	Files map[string][]string
}

// ReadConfigs returns the configurations declared in dir/README.md, or nil
// when there is no README or it declares none.
func ReadConfigs(dir string) ([]Config, error) {
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read dataset card: %w", err)
	}
	front, line, ok := frontMatter(b)
	if !ok {
		return nil, nil
	}
	var card struct {
		Configs []struct {
			Name      string    `yaml:"config_name"`
			Default   bool      `yaml:"default"`
			DataFiles yaml.Node `yaml:"data_files"`
		} `yaml:"configs"`
	}
	readme := filepath.Join(dir, "README.md")
	if err := yaml.Unmarshal(front, &card); err != nil {
		return nil, &Error{Pos: Pos{File: readme, Line: line}, Field: "configs", Problem: "front matter is not valid YAML: " + err.Error()}
	}
	var out []Config
	for _, c := range card.Configs {
		files, err := dataFilePatterns(&c.DataFiles)
		if err != nil {
			return nil, &Error{Pos: Pos{File: readme, Line: line + c.DataFiles.Line}, Field: "configs." + c.Name + ".data_files", Problem: err.Error()}
		}
		out = append(out, Config{Name: c.Name, Default: c.Default, Files: files})
	}
	return out, nil
}

// frontMatter returns the YAML between the leading "---" lines and the line
// number it starts after.
func frontMatter(b []byte) ([]byte, int, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "---" {
		return nil, 0, false
	}
	var front bytes.Buffer
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "---" {
			return front.Bytes(), 1, true
		}
		front.Write(sc.Bytes())
		front.WriteByte('\n')
	}
	return nil, 0, false
}

// dataFilePatterns reads data_files in any of its spellings: a pattern, a
// list of patterns, a list of {split, path} (path a pattern or a list), or
// a map from split to pattern(s). Patterns without a split belong to train.
func dataFilePatterns(n *yaml.Node) (map[string][]string, error) {
	out := map[string][]string{}
	strs := func(n *yaml.Node) ([]string, error) {
		switch n.Kind {
		case yaml.ScalarNode:
			return []string{n.Value}, nil
		case yaml.SequenceNode:
			var s []string
			for _, e := range n.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: expected a path pattern", e.Line)
				}
				s = append(s, e.Value)
			}
			return s, nil
		}
		return nil, fmt.Errorf("expected a path pattern or a list of them")
	}
	switch n.Kind {
	case 0:
		return nil, nil // no data_files: the files are found by name
	case yaml.ScalarNode:
		out["train"] = []string{n.Value}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p, err := strs(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[n.Content[i].Value] = append(out[n.Content[i].Value], p...)
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			switch e.Kind {
			case yaml.ScalarNode:
				out["train"] = append(out["train"], e.Value)
			case yaml.MappingNode:
				var split string
				var paths []string
				for i := 0; i+1 < len(e.Content); i += 2 {
					switch e.Content[i].Value {
					case "split":
						split = e.Content[i+1].Value
					case "path":
						p, err := strs(e.Content[i+1])
						if err != nil {
							return nil, err
						}
						paths = p
					}
				}
				if split == "" {
					split = "train"
				}
				if len(paths) == 0 {
					return nil, fmt.Errorf("split %s has no path", split)
				}
				out[split] = append(out[split], paths...)
			default:
				return nil, fmt.Errorf("expected a pattern or {split, path}")
			}
		}
	}
	return out, nil
}

// defaultConfig picks the configuration Hugging Face loads by default: the
// one marked default, else the one named "default", else the first.
func defaultConfig(configs []Config) Config {
	for _, c := range configs {
		if c.Default {
			return c
		}
	}
	for _, c := range configs {
		if c.Name == "default" {
			return c
		}
	}
	return configs[0]
}

// configFiles expands a configuration's patterns into files, ordered by
// split (train, validation, test, others) and path. A pattern that matches
// nothing is an error.
func configFiles(dir string, c Config) ([]string, error) {
	var all []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list dataset %s: %w", dir, err)
	}
	sort.Strings(all)
	splits := make([]string, 0, len(c.Files))
	for s := range c.Files {
		splits = append(splits, s)
	}
	sort.Slice(splits, func(i, j int) bool {
		oi, ok := splitOrder[splits[i]]
		if !ok {
			oi = 3
		}
		oj, ok := splitOrder[splits[j]]
		if !ok {
			oj = 3
		}
		if oi != oj {
			return oi < oj
		}
		return splits[i] < splits[j]
	})
	seen := map[string]bool{}
	var out []string
	for _, s := range splits {
		for _, pat := range c.Files[s] {
			n := 0
			for _, f := range all {
				if globMatch(strings.TrimPrefix(pat, "./"), f) {
					n++
					if !seen[f] {
						seen[f] = true
						out = append(out, filepath.Join(dir, filepath.FromSlash(f)))
					}
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("dataset %s: README.md config %q: data_files pattern %q (split %s) matches no file", dir, c.Name, pat, s)
			}
		}
	}
	return out, nil
}

// globMatch matches a slash-separated path against a pattern whose
// segments follow path.Match, where a "**" segment matches any number of
// segments.
func globMatch(pattern, name string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
