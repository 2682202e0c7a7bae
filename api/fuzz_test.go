package api

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/fuzzguard"
)

// FuzzExtractTar: whatever a peer uploads as a result, extracting it ends
// (in time), writes only regular files and directories, and writes them
// only inside the target directory.
func FuzzExtractTar(f *testing.F) {
	add := func(entries ...tar.Header) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			data := []byte(strings.Repeat("x", int(h.Size)))
			tw.WriteHeader(&h)
			tw.Write(data)
		}
		tw.Close()
		f.Add(buf.Bytes())
	}
	add(tar.Header{Name: "config.json", Typeflag: tar.TypeReg, Size: 2, Mode: 0o644})
	add(tar.Header{Name: "a/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644})
	add(tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	add(tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"})
	add(tar.Header{Name: "a", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}, tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0}, 1024))
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() {
			root := t.TempDir()
			dir := filepath.Join(root, "out")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			ExtractTar(bytes.NewReader(b), dir, ExtractLimits{MaxFiles: 50, MaxBytes: 1 << 20})
			filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == root {
					return nil
				}
				if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
					t.Fatalf("extraction wrote %s, outside %s", p, dir)
				}
				if !d.IsDir() && !d.Type().IsRegular() {
					t.Fatalf("extraction made %s, a %s", p, d.Type())
				}
				return nil
			})
		})
	})
}

// FuzzDecodeJSON: every JSON body a peer or a customer sends is decoded
// (or refused) in time, whatever it holds.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"task_id":"t","task_type":"instruct","model":"m","model_params_count":1,"ds_size":1,"hours_to_complete":1}`,
		`{"task_id":"t","task_type":"dpo","model_url":"http://x/","dataset_url":"http://x/","upload_url":"http://x/","deadline":"2026-01-01T00:00:00Z","expected_name":"n","hours_to_complete":1}`,
		`{"model":"m","dataset":"upload:x","public":true,"rewards":[{"name":"length","weight":1}]}`,
		`{"name":"a.jsonl","size":10,"sha256":"00"}`, `{"account_name":"x","rate_limit":5}`, `{"code":"invalid","message":"m"}`,
		`[`, `{"task_id":` + strings.Repeat("[", 10000), `{"hours_to_complete":1e400}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() {
			for _, v := range []any{&TaskOffer{}, &TrainRequest{}, &MinerTaskStatus{}, &UploadResponse{}, &CreateTaskRequest{},
				&BeginUpload{}, &CreateKeyRequest{}, &ErrorResponse{}, &TournamentAnnouncement{}} {
				DecodeJSON(bytes.NewReader(b), 1<<20, v)
			}
		})
	})
}
