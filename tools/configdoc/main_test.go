package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFilesAreCurrent regenerates every config_doc.go in the
// module and compares: a doc comment changed without go generate fails
// here.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.Name() != OutputFile {
			return nil
		}
		n++
		want, err := Generate(filepath.Dir(path))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./%s", path, filepath.Dir(path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("found only %d %s files", n, OutputFile)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, doc, help, def, err string
	}{
		{"Workers", "Workers is how many tasks\nrun at once. Defaults to `4`.\n", "how many tasks run at once", "4", ""},
		{"Verbose", "Verbose logs every step.", "logs every step", "", ""},
		{"JSON", "JSON prints the report as JSON.", "prints the report as JSON", "", ""},
		{"DB", "DB is the store. Defaults to validator.db in the state directory.", "the store. Defaults to validator.db in the state directory", "", ""},
		{"Tags", "Tags are the tags. Defaults to ``.", "the tags", "", ""},
		{"X", "X is x. Defaults to `1`, or `2`.", "", "", "last sentence"},
		{"X", "Defaults to `1`.", "", "", "nothing but the default"},
	} {
		help, def, err := parse(tc.name, tc.doc)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.doc, err, tc.err)
			}
			continue
		}
		if err != nil || help != tc.help || def != tc.def {
			t.Errorf("%q: %q %q %v, want %q %q", tc.doc, help, def, err, tc.help, tc.def)
		}
	}
}
