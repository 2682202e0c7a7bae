package experiment

import (
	"os"
	"path/filepath"
	"strings"
)

// CommandLine is how an experiment was started (the program's arguments),
// as results.json and report.md record it: paths of this machine are
// written relative to the working directory when they are inside it, and
// as $TMPDIR/… or ~/… otherwise, so that a committed report names no
// temporary or personal folder.
func CommandLine(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
			out[i] = k + "=" + portable(v)
			continue
		}
		out[i] = portable(a)
	}
	return "crucible " + strings.Join(out, " ")
}

// portable is a path as a report may show it (see CommandLine); any other
// text is returned as it is.
func portable(p string) string {
	if !filepath.IsAbs(p) {
		return p
	}
	p = filepath.Clean(p)
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return rel
		}
	}
	for _, dir := range []struct{ path, name string }{{os.TempDir(), "$TMPDIR"}, {homeDir(), "~"}} {
		if dir.path == "" || dir.path == string(filepath.Separator) {
			continue
		}
		if rel, err := filepath.Rel(dir.path, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(filepath.Join(dir.name, rel))
		}
	}
	return p
}

func homeDir() string {
	h, _ := os.UserHomeDir()
	return h
}
