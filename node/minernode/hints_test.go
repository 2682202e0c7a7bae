package minernode

import (
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/tuning"
)

// TestWithHints checks that hints fill what a recipe leaves to automatic
// choice and never override what it fixes.
func TestWithHints(t *testing.T) {
	yes, no := true, false
	h := &crucible.Hints{LoRA: &yes, LoRARank: 16, LR: 3e-4, Epochs: 2, BatchSize: 8, MaxLength: 256}
	auto := withHints(tuning.Recipe{Name: "auto"}, h)
	if auto.LoRA == nil || !*auto.LoRA || auto.LoRARank != 16 || auto.LR != 3e-4 || auto.Epochs != 2 || auto.BatchSize != 8 || auto.MaxLength != 256 {
		t.Errorf("auto recipe with hints: %+v", auto)
	}
	full := withHints(tuning.Recipe{Name: "full", LoRA: &no, Epochs: 1}, h)
	if *full.LoRA || full.LoRARank != 0 || full.Epochs != 1 || full.LR != 3e-4 {
		t.Errorf("full recipe with hints: %+v", full)
	}
	if got := withHints(tuning.Recipe{Name: "auto"}, nil); got.LoRA != nil || got.LR != 0 {
		t.Errorf("no hints changed the recipe: %+v", got)
	}
}
