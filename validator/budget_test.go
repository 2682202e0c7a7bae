package validator_test

import (
	"testing"

	"github.com/crucible-net/crucible/validator"
)

func TestHoursFor(t *testing.T) {
	for rows, want := range map[int]float64{10: 3.0 / 60, 1500: 3.0 / 60, 5000: 10.0 / 60, 1e7: 2} {
		if got := validator.HoursFor(rows); got != want {
			t.Errorf("HoursFor(%d) = %g, want %g", rows, got, want)
		}
	}
}

func TestHoneypotDeterministic(t *testing.T) {
	h := validator.NewHoneypot("task-1", 42)
	if h != validator.NewHoneypot("task-1", 42) || h == validator.NewHoneypot("task-2", 42) || h == validator.NewHoneypot("task-1", 43) {
		t.Fatal("honeypot not a function of task and seed")
	}
	if len(h.PromptMarker) != 10 || len(h.AnswerMarker) != 8 || h.AnswerShare != 0.25 {
		t.Errorf("honeypot %+v", h)
	}
}
