package adaptive

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Trial is one training run and, once known, how it did.
type Trial struct {
	// ID is the task ID for the miner's own trials, TASK/HOTKEY for a
	// recipe another miner published.
	ID        string    `json:"id"`
	TaskID    string    `json:"task_id"`
	Own       bool      `json:"own"`              // the miner's own run
	Hotkey    string    `json:"hotkey,omitempty"` // who trained it (published trials)
	Validator string    `json:"validator,omitempty"`
	Strategy  string    `json:"strategy,omitempty"` // the recipe's name, as published
	At        time.Time `json:"at"`
	Features  Features  `json:"features"`
	Params    Params    `json:"params"`
	Outcome   *Outcome  `json:"outcome,omitempty"` // nil until known
	Reason    string    `json:"reason,omitempty"`  // why the search chose these params
}

// Outcome is how a trial did: the validator's evaluation once the task's
// results are published, or until then the run's own validation loss
// (Proxy).
type Outcome struct {
	Loss       *float64 `json:"loss,omitempty"` // test loss (or validation loss with Proxy)
	BaseLoss   *float64 `json:"base_loss,omitempty"`
	Reward     *float64 `json:"reward,omitempty"` // grpo: higher is better
	BaseReward *float64 `json:"base_reward,omitempty"`
	Proxy      bool     `json:"proxy,omitempty"`
	Failure    string   `json:"failure,omitempty"` // the run produced nothing that counted
	Rank       int      `json:"rank,omitempty"`
	Miners     int      `json:"miners,omitempty"`
	WinnerLoss *float64 `json:"winner_loss,omitempty"`
	Score      *float64 `json:"score,omitempty"`
}

// Objective is the number the search minimises: the log of the loss over
// the base's (a grpo task: the reward gained, negated). ok is false when
// the outcome says nothing (unknown, or a loss without its base); failed
// is true for a run that produced nothing that counted, which the search
// scores as bad as the worst it knows.
func (o *Outcome) Objective() (y float64, ok, failed bool) {
	finite := func(p *float64) bool { return p != nil && !math.IsNaN(*p) && !math.IsInf(*p, 0) }
	switch {
	case o == nil:
		return 0, false, false
	case o.Failure != "":
		return 0, true, true
	case finite(o.Loss) && finite(o.BaseLoss) && *o.Loss > 0 && *o.BaseLoss > 0:
		return math.Log(*o.Loss / *o.BaseLoss), true, false
	case finite(o.Reward) && finite(o.BaseReward):
		return -(*o.Reward - *o.BaseReward), true, false
	}
	return 0, false, false
}

// Cursor is how far a validator's results log has been read: the last
// entry's sequence number and hash, so that the next page is checked to
// continue the chain.
type Cursor struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// historyVersion is the format of the history file.
const historyVersion = 1

// MaxTrials is how many trials a history keeps (the oldest published ones
// go first).
const MaxTrials = 5000

type historyFile struct {
	Version int               `json:"version"`
	Trials  []Trial           `json:"trials"`
	Cursors map[string]Cursor `json:"cursors,omitempty"` // validator hotkey → cursor
}

// History is a miner's durable record of trials, one JSON file written
// atomically (a temporary file renamed over it), so that a crash leaves
// the previous version whole.
type History struct {
	path string
	mu   sync.Mutex
	f    historyFile
}

// OpenHistory opens the history at path; a missing file is an empty
// history. A file that is not a history is an EINVALID error naming it
// (it is never overwritten: the operator decides).
func OpenHistory(path string) (*History, error) {
	h := &History{path: path, f: historyFile{Version: historyVersion, Cursors: map[string]Cursor{}}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "adaptive history %s", path)
	}
	var f historyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, crucible.Errorf(crucible.EINVALID, "adaptive history %s is not a history file: %v", path, err).
			WithHint("move it away to start a new history")
	}
	if f.Version != historyVersion {
		return nil, crucible.Errorf(crucible.EINVALID, "adaptive history %s has format %d; this crucible reads %d", path, f.Version, historyVersion)
	}
	for i, t := range f.Trials {
		if err := t.Params.Check(); err != nil {
			return nil, crucible.Errorf(crucible.EINVALID, "adaptive history %s: trial %d (%s): %v", path, i, t.ID, err)
		}
	}
	if f.Cursors == nil {
		f.Cursors = map[string]Cursor{}
	}
	h.f = f
	return h, nil
}

// Path is the history's file.
func (h *History) Path() string { return h.path }

// Trials returns a copy of the trials, oldest first.
func (h *History) Trials() []Trial {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Trial(nil), h.f.Trials...)
}

// Trial returns the trial with that ID.
func (h *History) Trial(id string) (Trial, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.f.Trials {
		if t.ID == id {
			return t, true
		}
	}
	return Trial{}, false
}

// Put adds a trial or replaces the one with its ID, and saves.
func (h *History) Put(ts ...Trial) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range ts {
		if t.ID == "" {
			return crucible.Errorf(crucible.EINVALID, "adaptive history: a trial needs an ID")
		}
		if err := t.Params.Check(); err != nil {
			return crucible.Errorf(crucible.EINVALID, "adaptive history: trial %s: %v", t.ID, err)
		}
		replaced := false
		for i := range h.f.Trials {
			if h.f.Trials[i].ID == t.ID {
				h.f.Trials[i], replaced = t, true
				break
			}
		}
		if !replaced {
			h.f.Trials = append(h.f.Trials, t)
		}
	}
	h.trim()
	return h.save()
}

// trim keeps MaxTrials: the miner's own trials stay longest.
func (h *History) trim() {
	over := len(h.f.Trials) - MaxTrials
	if over <= 0 {
		return
	}
	idx := make([]int, len(h.f.Trials))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ta, tb := h.f.Trials[idx[a]], h.f.Trials[idx[b]]
		if ta.Own != tb.Own {
			return !ta.Own
		}
		return ta.At.Before(tb.At)
	})
	drop := map[int]bool{}
	for _, i := range idx[:over] {
		drop[i] = true
	}
	kept := h.f.Trials[:0]
	for i, t := range h.f.Trials {
		if !drop[i] {
			kept = append(kept, t)
		}
	}
	h.f.Trials = kept
}

// Cursor returns how far the validator's results log was read.
func (h *History) Cursor(validator string) Cursor {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.f.Cursors[validator]
}

// Advance records a validator's cursor together with the trials read up
// to it, in one save.
func (h *History) Advance(validator string, c Cursor, ts ...Trial) error {
	h.mu.Lock()
	h.f.Cursors[validator] = c
	h.mu.Unlock()
	return h.Put(ts...)
}

// save writes the file atomically. Callers hold h.mu.
func (h *History) save() error {
	b, err := json.MarshalIndent(h.f, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(h.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("adaptive history: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(h.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("adaptive history: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), h.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("adaptive history %s: %w", h.path, err)
	}
	return nil
}
