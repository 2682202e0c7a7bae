package api_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTarRoundTripDeterministic(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{"config.json": `{"a":1}`, "model.safetensors": "weights", "sub/tokenizer.json": "tok", ".cache/x": "skip"}
	writeFiles(t, src, files)
	var a, b bytes.Buffer
	if err := api.WriteTar(&a, src); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(filepath.Join(src, "config.json"), mustTime(), mustTime())
	if err := api.WriteTar(&b, src); err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(a.Bytes()) != sha256.Sum256(b.Bytes()) {
		t.Error("archive bytes depend on file times")
	}
	dst := t.TempDir()
	n, err := api.ExtractTar(&a, dst, api.ExtractLimits{})
	if err != nil || n != 3 {
		t.Fatalf("extract: %d files, %v", n, err)
	}
	for name, body := range files {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if name == ".cache/x" {
			if err == nil {
				t.Error("hidden directory was archived")
			}
			continue
		}
		if err != nil || string(got) != body {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
}

func TestExtractRejectsUnsafe(t *testing.T) {
	for _, c := range []struct {
		name string
		hdr  tar.Header
	}{
		{"parent", tar.Header{Name: "../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}},
		{"absolute", tar.Header{Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}},
		{"symlink", tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}},
		{"nested parent", tar.Header{Name: "a/../../evil", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}},
	} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&c.hdr)
		if c.hdr.Size > 0 {
			tw.Write([]byte("x"))
		}
		tw.Close()
		_, err := api.ExtractTar(&buf, t.TempDir(), api.ExtractLimits{})
		if !errors.Is(err, api.ErrUnsafeArchive) {
			t.Errorf("%s: got %v, want ErrUnsafeArchive", c.name, err)
		}
	}
}

func TestExtractLimitsAndTruncation(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"a": "1234567890", "b": "1234567890"})
	var buf bytes.Buffer
	api.WriteTar(&buf, src)
	if _, err := api.ExtractTar(bytes.NewReader(buf.Bytes()), t.TempDir(), api.ExtractLimits{MaxFiles: 1}); err == nil {
		t.Error("file limit not enforced")
	}
	if _, err := api.ExtractTar(bytes.NewReader(buf.Bytes()), t.TempDir(), api.ExtractLimits{MaxBytes: 15}); err == nil {
		t.Error("size limit not enforced")
	}
	for _, n := range []int{100, 700, 1024, 1100, 2000} { // mid-header, after an entry, mid-file, before the end marker
		if _, err := api.ExtractTar(bytes.NewReader(buf.Bytes()[:n]), t.TempDir(), api.ExtractLimits{}); err == nil {
			t.Errorf("archive truncated to %d of %d bytes accepted", n, buf.Len())
		}
	}
}

func mustTime() time.Time { return time.Now().Add(time.Hour) }
