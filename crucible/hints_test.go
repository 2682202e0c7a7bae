package crucible

import (
	"math"
	"strings"
	"testing"
)

// Hints out of range, NaN and infinities included, are refused naming the
// field; zero hints suggest nothing and pass.
func TestHintsValidate(t *testing.T) {
	no := false
	for _, c := range []struct {
		h    Hints
		want string
	}{
		{Hints{LR: math.NaN()}, "learning_rate"},
		{Hints{LR: math.Inf(1)}, "learning_rate"},
		{Hints{LR: 2}, "learning_rate"},
		{Hints{Epochs: math.NaN()}, "epochs"},
		{Hints{Epochs: -1}, "epochs"},
		{Hints{LoRARank: 2048}, "lora_rank"},
		{Hints{BatchSize: -1}, "batch_size"},
		{Hints{MaxLength: 1 << 21}, "max_length"},
		{Hints{LoRA: &no, LoRARank: 8}, "lora is false"},
	} {
		err := c.h.Validate()
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want EINVALID naming %s", c.h, err, c.want)
		}
	}
	for _, h := range []*Hints{nil, {}, {LR: 2e-4, Epochs: 3, LoRARank: 16, BatchSize: 8, MaxLength: 512}} {
		if err := h.Validate(); err != nil {
			t.Errorf("%+v: %v", h, err)
		}
	}
}
