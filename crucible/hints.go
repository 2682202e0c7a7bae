package crucible

// Hints are a customer's suggested hyperparameters for a task. They reach
// every miner with the task, and a miner's strategy may follow them or not:
// the competition on the hidden test split still decides who wins. Zero
// fields suggest nothing.
type Hints struct {
	// LoRA suggests LoRA (true) or full fine-tuning (false).
	LoRA *bool `json:"lora,omitempty"`
	// LoRARank suggests the rank of LoRA's matrices.
	LoRARank int `json:"lora_rank,omitempty"`
	// LR suggests the peak learning rate.
	LR float64 `json:"learning_rate,omitempty"`
	// Epochs suggests how many passes over the train split.
	Epochs float64 `json:"epochs,omitempty"`
	// BatchSize suggests the sequences per optimizer step.
	BatchSize int `json:"batch_size,omitempty"`
	// MaxLength suggests the tokens per sequence.
	MaxLength int `json:"max_length,omitempty"`
}

// Empty reports whether h suggests nothing.
func (h *Hints) Empty() bool { return h == nil || *h == Hints{} }

// Validate checks that every hint is in a range a trainer could use.
// Returns EINVALID naming the field.
func (h *Hints) Validate() error {
	if h == nil {
		return nil
	}
	switch {
	case h.LoRARank < 0 || h.LoRARank > 1024:
		return Errorf(EINVALID, "hints: lora_rank %d is not between 1 and 1024", h.LoRARank)
	case !(h.LR >= 0 && h.LR <= 1): // NaN too
		return Errorf(EINVALID, "hints: learning_rate %g is not between 0 and 1", h.LR)
	case !(h.Epochs >= 0 && h.Epochs <= 100):
		return Errorf(EINVALID, "hints: epochs %g is not between 0 and 100", h.Epochs)
	case h.BatchSize < 0 || h.BatchSize > 4096:
		return Errorf(EINVALID, "hints: batch_size %d is not between 1 and 4096", h.BatchSize)
	case h.MaxLength < 0 || h.MaxLength > 1<<20:
		return Errorf(EINVALID, "hints: max_length %d is not between 1 and 1048576", h.MaxLength)
	case h.LoRA != nil && !*h.LoRA && h.LoRARank > 0:
		return Errorf(EINVALID, "hints: lora_rank is set but lora is false")
	}
	return nil
}
