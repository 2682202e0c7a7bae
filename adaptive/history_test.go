package adaptive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestHistorySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "adaptive.json")
	h, err := OpenHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Trials()) != 0 {
		t.Fatal("a new history has trials")
	}
	var s Space
	a := trialOf(1, s.Prior(task), -0.4)
	b := trialOf(2, s.Prior(task), 0)
	b.Outcome = nil // pending
	if err := h.Put(a, b); err != nil {
		t.Fatal(err)
	}
	if err := h.Advance("validator-1", Cursor{Seq: 7, Hash: "abc"}); err != nil {
		t.Fatal(err)
	}
	// The pending trial's outcome arrives: it replaces the trial.
	loss, base := 0.5, 1.0
	b.Outcome = &Outcome{Loss: &loss, BaseLoss: &base, Rank: 1, Miners: 4}
	if err := h.Put(b); err != nil {
		t.Fatal(err)
	}

	h2, err := OpenHistory(path) // a restarted miner
	if err != nil {
		t.Fatal(err)
	}
	got := h2.Trials()
	if len(got) != 2 || got[0].ID != a.ID || got[1].Outcome == nil || got[1].Outcome.Rank != 1 {
		t.Fatalf("after reopening: %+v", got)
	}
	if c := h2.Cursor("validator-1"); c.Seq != 7 || c.Hash != "abc" {
		t.Errorf("cursor %+v", c)
	}
	// The search proposes the same from the reopened history.
	if p, q := s.Propose(task, h.Trials(), 5), s.Propose(task, h2.Trials(), 5); p.Params != q.Params {
		t.Errorf("proposals differ after a restart: %v, %v", p.Params, q.Params)
	}
	// No temporary files are left beside it.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("files beside the history: %v", ents)
	}
}

func TestHistoryRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage.json": "not json",
		"version.json": `{"version": 99, "trials": []}`,
		"params.json":  `{"version": 1, "trials": [{"id": "x", "params": {"full": true, "lr": -1, "epochs": 1, "batch": 1, "schedule": "cosine"}}]}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenHistory(path)
		if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v, want EINVALID naming the file", name, err)
		}
		if b, _ := os.ReadFile(path); string(b) != body {
			t.Errorf("%s was rewritten", name)
		}
	}
	h, _ := OpenHistory(filepath.Join(dir, "new.json"))
	bad := trialOf(1, Params{Full: true, LR: 0.01, Epochs: 1, Batch: 0, Schedule: "cosine"}, 0)
	if err := h.Put(bad); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a trial with batch 0: %v", err)
	}
	if err := h.Put(Trial{Params: Space{}.Prior(task)}); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("a trial without an ID: %v", err)
	}
}

func TestHistoryTrimsPublishedFirst(t *testing.T) {
	h, _ := OpenHistory(filepath.Join(t.TempDir(), "h.json"))
	var s Space
	var ts []Trial
	for i := range MaxTrials + 10 {
		tr := trialOf(i, s.Prior(task), -0.1)
		tr.Own = i < 5 // the oldest five are the miner's own
		tr.At = time.Unix(int64(i), 0)
		ts = append(ts, tr)
	}
	if err := h.Put(ts...); err != nil {
		t.Fatal(err)
	}
	got := h.Trials()
	if len(got) != MaxTrials {
		t.Fatalf("%d trials kept, want %d", len(got), MaxTrials)
	}
	own := 0
	for _, tr := range got {
		if tr.Own {
			own++
		}
	}
	if own != 5 || got[5].ID != "t15" {
		t.Errorf("kept %d own trials, first published %s; want 5 and the oldest published dropped", own, got[5].ID)
	}
}
