package crucible_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestMethod(t *testing.T) {
	a := crucible.Method{Strategy: "auto", Version: "recipe-1"}
	for _, other := range []crucible.Method{{Strategy: "auto"}, {Strategy: "autorecipe-1"}, {Strategy: "auto", Commit: "recipe-1"}, {Strategy: "auto", Version: "recipe-2"}} {
		if other.Hash() == a.Hash() {
			t.Errorf("%+v hashes like %+v", other, a)
		}
	}
	if a.Hash() != (crucible.Method{Strategy: "auto", Version: "recipe-1"}).Hash() {
		t.Error("the hash is not stable")
	}
	for _, bad := range []crucible.Method{{}, {Strategy: "a b"}, {Strategy: "../x"}, {Strategy: "ok", Image: "x\ny"}} {
		if err := bad.Validate(); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if err := (crucible.Method{Strategy: "command", Image: "sha256:0a1b", Commit: "deadbeef"}).Validate(); err != nil {
		t.Error(err)
	}
	// The signed time is taken to the microsecond, as the store keeps it.
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	if !bytes.Equal(crucible.EntryMessage("t", "h", "m", 0.2, at), crucible.EntryMessage("t", "h", "m", 0.2, at.Truncate(time.Microsecond))) {
		t.Error("entry message depends on nanoseconds")
	}
}

func TestTournamentSettings(t *testing.T) {
	s := crucible.DefaultTournamentSettings()
	if err := s.Validate(); crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("settings without a pool: %v", err)
	}
	s.Pool = []crucible.TournamentTaskSpec{{Type: crucible.TaskDPO, Model: "m", Dataset: "d"}, {Type: crucible.TaskInstruct, Model: "m", Dataset: "d"}}
	s.DefaultTypes()
	if s.GroupTypes[0] != crucible.TaskInstruct || len(s.KnockoutTypes) != 2 || s.BossTypes[0] != crucible.TaskDPO {
		t.Errorf("types %v %v %v", s.GroupTypes, s.KnockoutTypes, s.BossTypes)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*crucible.TournamentSettings){
		"even pair tasks":      func(s *crucible.TournamentSettings) { s.PairTasks = 2 },
		"advance ≥ min group":  func(s *crucible.TournamentSettings) { s.Advance = 20 },
		"one entrant":          func(s *crucible.TournamentSettings) { s.MinEntrants = 1 },
		"no hours":             func(s *crucible.TournamentSettings) { s.Hours = 0 },
		"negative fee":         func(s *crucible.TournamentSettings) { s.Fee = -1 },
		"a type not in pool":   func(s *crucible.TournamentSettings) { s.BossTypes = []crucible.TaskType{crucible.TaskGRPO} },
		"grpo without rewards": func(s *crucible.TournamentSettings) { s.Pool[0].Type = crucible.TaskGRPO },
	} {
		c := s
		c.Pool = append([]crucible.TournamentTaskSpec(nil), s.Pool...)
		mutate(&c)
		if err := c.Validate(); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}
