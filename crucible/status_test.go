package crucible_test

import (
	"testing"

	"github.com/crucible-net/crucible/crucible"
)

// allowed is the lifecycle written out independently of crucible.Transitions,
// so a change to the table must be made deliberately in both places.
var allowed = map[[2]crucible.TaskStatus]bool{
	{"pending", "preparing_data"}:                  true,
	{"pending", "cancelled"}:                       true,
	{"preparing_data", "looking_for_nodes"}:        true,
	{"preparing_data", "prep_task_failure"}:        true,
	{"preparing_data", "cancelled"}:                true,
	{"looking_for_nodes", "ready"}:                 true,
	{"looking_for_nodes", "delayed"}:               true,
	{"looking_for_nodes", "failure_finding_nodes"}: true,
	{"looking_for_nodes", "cancelled"}:             true,
	{"delayed", "looking_for_nodes"}:               true,
	{"delayed", "failure_finding_nodes"}:           true,
	{"delayed", "cancelled"}:                       true,
	{"ready", "training"}:                          true,
	{"ready", "cancelled"}:                         true,
	{"training", "preevaluation"}:                  true,
	{"training", "failure"}:                        true,
	{"training", "cancelled"}:                      true,
	{"preevaluation", "evaluating"}:                true,
	{"preevaluation", "failure"}:                   true,
	{"preevaluation", "cancelled"}:                 true,
	{"evaluating", "success"}:                      true,
	{"evaluating", "failure"}:                      true,
	{"evaluating", "preevaluation"}:                true,
	{"evaluating", "cancelled"}:                    true,
}

func TestTransitionsEveryPair(t *testing.T) {
	if len(crucible.Statuses) != 13 {
		t.Fatalf("want 13 statuses, have %d", len(crucible.Statuses))
	}
	for _, from := range crucible.Statuses {
		for _, to := range crucible.Statuses {
			want := allowed[[2]crucible.TaskStatus{from, to}]
			if got := from.CanTransition(to); got != want {
				t.Errorf("%s -> %s: CanTransition = %v, want %v", from, to, got, want)
			}
			err := crucible.CheckTransition(from, to)
			if want && err != nil {
				t.Errorf("%s -> %s: unexpected error %v", from, to, err)
			}
			if !want && crucible.ErrorCode(err) != crucible.ECONFLICT {
				t.Errorf("%s -> %s: want ECONFLICT, got %v", from, to, err)
			}
		}
	}
}

func TestTerminalStatuses(t *testing.T) {
	terminal := map[crucible.TaskStatus]bool{
		"prep_task_failure": true, "failure_finding_nodes": true, "success": true, "failure": true, "cancelled": true,
	}
	for _, s := range crucible.Statuses {
		if s.Terminal() != terminal[s] {
			t.Errorf("%s: Terminal = %v, want %v", s, s.Terminal(), terminal[s])
		}
		if !terminal[s] && !s.CanTransition(crucible.StatusCancelled) {
			t.Errorf("%s: a live task must be cancellable", s)
		}
	}
}

func TestUnknownStatus(t *testing.T) {
	for _, c := range [][2]crucible.TaskStatus{{"bogus", "pending"}, {"pending", "bogus"}, {"", ""}} {
		if code := crucible.ErrorCode(crucible.CheckTransition(c[0], c[1])); code != crucible.EINVALID {
			t.Errorf("%q -> %q: code %q, want EINVALID", c[0], c[1], code)
		}
	}
}
