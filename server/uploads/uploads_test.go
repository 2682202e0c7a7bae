package uploads

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/data/hub"
)

func TestCleanName(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"train.jsonl", "train.jsonl", ""},
		{"../../etc/x.csv", "x.csv", ""},
		{`C:\Users\me\my data.json`, "my_data.json", ""},
		{"rows.parquet", "rows.parquet", ""},
		{"rows.jsonl.gz", "rows.jsonl.gz", ""},
		{"notes.txt", "", "not a dataset file name"},
		{"", "", "not a dataset file name"},
		{"..", "", "not a dataset file name"},
		{"rows.parquet.gz", "", "not a dataset file name"},
	} {
		got, err := cleanName(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || crucible.ErrorCode(err) != crucible.EINVALID {
				t.Errorf("cleanName(%q): %q, %v; want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("cleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSaveFindResolve(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rows := `{"prompt":"Which is warmer?","chosen":"The sun.","rejected":"The moon."}` + "\n" +
		`{"prompt":"Pick a pet.","chosen":"A cat.","rejected":"A rock."}` + "\n"
	up, err := s.Save(ctx, "acct", "prefs.jsonl", strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	if up.Rows != 2 || up.Format != crucible.TaskDPO || up.Mapping.FieldChosen != "chosen" || up.Size != int64(len(rows)) {
		t.Fatalf("receipt %+v", up)
	}
	got, err := s.Find(up.ID)
	if err != nil || got.SHA256 != up.SHA256 {
		t.Fatalf("find: %+v, %v", got, err)
	}
	path, err := Resolver{Uploads: s}.Resolve(up.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != rows {
		t.Fatalf("stored file differs: %q", b)
	}
	for _, ref := range []string{"upload:../../etc", "upload:" + strings.Repeat("0", 32), "upload:"} {
		if _, err := (Resolver{Uploads: s}).Resolve(ref); crucible.ErrorCode(err) != crucible.ENOTFOUND {
			t.Errorf("resolve %q: %v", ref, err)
		}
	}
	if _, err := (Resolver{Uploads: s}).Resolve("org/name"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Errorf("resolve without Next: %v", err)
	}

	// A refused upload leaves nothing behind and names problems by the
	// uploaded name, never the server's path.
	bad, err := s.Save(ctx, "acct", "bad.jsonl", strings.NewReader(rows+"{\"prompt\": \"x\"\n"))
	if crucible.ErrorCode(err) != crucible.EINVALID || len(bad.Errors) != 1 || !strings.HasPrefix(bad.Errors[0], "bad.jsonl:3:") {
		t.Fatalf("bad upload: %+v, %v", bad, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 { // the good upload's directory and receipt
		t.Fatalf("upload directory holds %d entries", len(entries))
	}

	// The estimate of the good one: all rows, some held out, a given
	// mapping that does not fit is refused with line numbers.
	est, err := EstimateData(path, up.Ref(), api.CreateTaskRequest{}, data.SplitOptions{})
	if err != nil || est.Type != crucible.TaskDPO || est.Rows != 2 || est.TrainRows+est.TestRows != 2 {
		t.Fatalf("estimate %+v, %v", est, err)
	}
	_, err = EstimateData(path, up.Ref(), api.CreateTaskRequest{Type: crucible.TaskDPO,
		Mapping: &crucible.ColumnMapping{FieldPrompt: "question", FieldChosen: "chosen", FieldRejected: "rejected"}}, data.SplitOptions{})
	if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), up.Ref()+":1:") || strings.Contains(err.Error(), dir) {
		t.Fatalf("estimate with a wrong mapping: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, up.ID+".json")); err != nil {
		t.Fatal(err)
	}
}

func TestResolveHubCacheOnly(t *testing.T) {
	cache := &hub.Cache{Dir: t.TempDir()}
	repo := cache.RepoDir(hub.Dataset, "org/set")
	commit := strings.Repeat("c0", 20)
	snap := filepath.Join(repo, "snapshots", commit)
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(repo, "refs"), 0o755)
	os.WriteFile(filepath.Join(repo, "refs", "main"), []byte(commit), 0o644)
	// A directory in the working directory with a hub id's spelling.
	t.Chdir(t.TempDir())
	os.MkdirAll("org/local", 0o755)
	next := pathResolver{}
	r := Resolver{Cache: cache, Next: next}
	for _, tc := range []struct {
		ref, want, code string
	}{
		{"hf:org/set", snap, ""},
		{"hf:org/set@main", snap, ""},
		{"hf:org/local", "", crucible.ENOTFOUND}, // the path is never read
		{"hf:org/missing", "", crucible.ENOTFOUND},
		{"org/local", "org/local", ""}, // an admin's reference goes to Next
	} {
		got, err := r.Resolve(tc.ref)
		if crucible.ErrorCode(err) != tc.code || got != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q, code %q", tc.ref, got, err, tc.want, tc.code)
		}
		if err != nil && strings.Contains(err.Error(), cache.Dir) {
			t.Errorf("Resolve(%q) error names a server path: %v", tc.ref, err)
		}
	}
}

// pathResolver resolves existing paths, as hub.Resolver does first.
type pathResolver struct{}

func (pathResolver) Resolve(ref string) (string, error) {
	if _, err := os.Stat(ref); err != nil {
		return "", crucible.Errorf(crucible.ENOTFOUND, "no %s", ref)
	}
	return ref, nil
}
