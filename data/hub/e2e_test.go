package hub

import (
	"context"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// TestPulledDatasetReads pulls a dataset in Hugging Face layout from the
// fake hub and reads it back through the resolver and the data readers,
// which must follow the snapshot's links into the blobs.
func TestPulledDatasetReads(t *testing.T) {
	h, c := newHub(t)
	files := map[string][]byte{
		"README.md":                       []byte("---\nlicense: mit\n---\n"),
		"data/train-00000-of-00001.jsonl": []byte(`{"question":"a?","answer":"A"}` + "\n" + `{"question":"b?","answer":"B"}` + "\n"),
		"data/test-00000-of-00001.jsonl":  []byte(`{"question":"c?","answer":"C"}` + "\n"),
	}
	h.files, h.listed = files, files
	ref, _ := ParseRef("org/data")
	if _, err := c.Download(context.Background(), Dataset, ref); err != nil {
		t.Fatal(err)
	}
	dir, err := Resolver{Cache: c.Cache, Kind: Dataset}.Resolve("org/data")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := data.Check(dir, data.CheckOptions{Split: data.SplitOptions{MinRows: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Rows != 3 || len(rep.Files) != 2 || rep.Type != crucible.TaskInstruct {
		t.Errorf("report %+v", rep)
	}
}
