package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDataPullShowsProgress pulls a dataset from a local hub and checks
// the progress lines printed when stderr is not a terminal: each file's
// quarters and its end, with its size.
func TestDataPullShowsProgress(t *testing.T) {
	content := bytes.Repeat([]byte(`{"instruction":"2+2?","output":"4"}`+"\n"), 3000)
	sum := sha256.Sum256(content)
	sha := strings.Repeat("c", 40)
	hubSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/api/datasets/crucible/pulled/revision/"):
			fmt.Fprintf(w, `{"id":"crucible/pulled","sha":%q,"siblings":[{"rfilename":"train.jsonl","size":%d,"lfs":{"sha256":%q,"size":%d}}]}`,
				sha, len(content), hex.EncodeToString(sum[:]), len(content))
		case r.URL.Path == "/datasets/crucible/pulled/resolve/"+sha+"/train.jsonl":
			w.Write(content)
		default:
			http.NotFound(w, r)
		}
	}))
	defer hubSrv.Close()
	out, err := runCLI(t, "data", "pull", "--dataset", "crucible/pulled", "--endpoint", hubSrv.URL, "--cache", t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"downloading train.jsonl: 0% of 105.5 KiB", "downloading train.jsonl: done, 105.5 KiB in"} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
}
