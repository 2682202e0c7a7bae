package server

import (
	"os"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/server/browsertest"
)

// TestBrowser drives the dashboard in Chromium the way a customer would
// (see browsertest.CustomerFlow) while the task's life is simulated in the
// store, and checks what the browser got: the problems of a bad upload by
// line, the downloaded winner, the network counter.
func TestBrowser(t *testing.T) {
	if browsertest.Chromium() == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	e := newEnv(t, Options{})
	res := browsertest.CustomerFlow(t, browsertest.Flow{
		BaseURL: e.ts.URL, Key: e.customer, Model: "tiny-llama",
		BadDataset: "testdata/bad.jsonl", BadLines: []string{"bad.jsonl:3:", "bad.jsonl:5:"},
		Dataset: "testdata/instruct.jsonl", WantType: "instruct",
		Started: e.simulate,
	})
	f, err := os.Open(res.Download)
	must(t, err)
	names := tarNames(t, f)
	f.Close()
	if strings.Join(names, ",") != "config.json,model.safetensors" {
		t.Fatalf("downloaded archive holds %v", names)
	}
	if res.TasksShown != "1" || len(res.Shots) != 8 {
		t.Fatalf("network page counts %q tasks; %d screenshots", res.TasksShown, len(res.Shots))
	}
}
