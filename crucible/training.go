package crucible

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode"
)

// TrainingFile is the file a result may carry beside its weights to say
// how it was trained (crucible's engine writes it; external trainers may).
// After a task ends the validator publishes each submission's summary of
// it (TrainingSummary) with the results, so that miners learn from the
// winners.
const TrainingFile = "training.json"

// MaxTrainingFile is the largest training.json a validator reads.
const MaxTrainingFile = 256 << 10

// TrainingSummary is how a submission was trained: the settings its
// training.json reports, checked and reduced to what other miners can
// reproduce. It is the miner's own account: the validator checks that it
// is well formed, not that it is true.
type TrainingSummary struct {
	Strategy    string  `json:"strategy,omitempty"` // the recipe's name
	Mode        string  `json:"mode"`               // "lora" or "full"
	LoRARank    int     `json:"lora_rank,omitempty"`
	LoRAAlpha   float64 `json:"lora_alpha,omitempty"`
	LR          float64 `json:"lr"`
	Epochs      float64 `json:"epochs"`     // passes over the data that ran
	BatchSize   int     `json:"batch_size"` // examples per optimizer step
	Schedule    string  `json:"schedule,omitempty"`
	WarmupRatio float64 `json:"warmup_ratio"`
	MinLRRatio  float64 `json:"min_lr_ratio"`
	WeightDecay float64 `json:"weight_decay"`
	Steps       int     `json:"steps,omitempty"`
	Examples    int     `json:"examples,omitempty"` // training examples
	Tokens      int64   `json:"tokens,omitempty"`
	DataSHA256  string  `json:"data_sha256,omitempty"` // the train split trained on
	Seconds     float64 `json:"seconds,omitempty"`
}

// Validate checks that every field is in range (and every string short and
// printable), naming the first that is not.
func (s *TrainingSummary) Validate() error {
	num := func(name string, x, lo, hi float64) error {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < lo || x > hi {
			return Errorf(EINVALID, "training summary: %s %g is not in [%g, %g]", name, x, lo, hi)
		}
		return nil
	}
	for _, c := range []struct {
		name      string
		x, lo, hi float64
	}{
		{"lr", s.LR, 0, 10}, {"epochs", s.Epochs, 0, 1e6}, {"batch_size", float64(s.BatchSize), 0, 1 << 20},
		{"lora_rank", float64(s.LoRARank), 0, 1 << 16}, {"lora_alpha", s.LoRAAlpha, 0, 1 << 20},
		{"warmup_ratio", s.WarmupRatio, 0, 1}, {"min_lr_ratio", s.MinLRRatio, 0, 1}, {"weight_decay", s.WeightDecay, 0, 10},
		{"steps", float64(s.Steps), 0, 1e12}, {"examples", float64(s.Examples), 0, 1e12}, {"tokens", float64(s.Tokens), 0, 1e15},
		{"seconds", s.Seconds, 0, 1e8},
	} {
		if err := num(c.name, c.x, c.lo, c.hi); err != nil {
			return err
		}
	}
	switch s.Mode {
	case "lora", "full":
	default:
		return Errorf(EINVALID, "training summary: mode %q is not lora or full", s.Mode)
	}
	switch s.Schedule {
	case "", "cosine", "linear", "constant":
	default:
		return Errorf(EINVALID, "training summary: schedule %q is not cosine, linear or constant", s.Schedule)
	}
	for name, v := range map[string]string{"strategy": s.Strategy, "data_sha256": s.DataSHA256} {
		if len(v) > 64 {
			return Errorf(EINVALID, "training summary: %s is longer than 64 bytes", name)
		}
		for _, r := range v {
			if !unicode.IsPrint(r) {
				return Errorf(EINVALID, "training summary: %s holds an unprintable character", name)
			}
		}
	}
	return nil
}

// ParseTrainingFile reads a training.json (as crucible's engine writes it:
// its recipe's name, the settings after every automatic choice, the
// tokenized data and the duration) into a checked summary. Returns
// EINVALID for a file that is too large, not JSON, or out of range.
func ParseTrainingFile(b []byte) (*TrainingSummary, error) {
	if len(b) > MaxTrainingFile {
		return nil, Errorf(EINVALID, "%s is %d bytes, more than %d", TrainingFile, len(b), MaxTrainingFile)
	}
	var f struct {
		Recipe struct {
			Name string `json:"name"`
		} `json:"recipe"`
		Settings *struct {
			Mode        string  `json:"mode"`
			LoRARank    int     `json:"lora_rank"`
			LoRAAlpha   float64 `json:"lora_alpha"`
			LR          float64 `json:"lr"`
			Epochs      float64 `json:"epochs"`
			BatchSize   int     `json:"batch_size"`
			GradAccum   int     `json:"grad_accum"`
			Schedule    string  `json:"schedule"`
			WarmupRatio float64 `json:"warmup_ratio"`
			MinLRRatio  float64 `json:"min_lr_ratio"`
			WeightDecay float64 `json:"weight_decay"`
			Steps       int     `json:"steps"`
		} `json:"settings"`
		Tokenize struct {
			Examples int   `json:"examples"`
			Tokens   int64 `json:"tokens"`
		} `json:"tokenize"`
		DataSHA256 string  `json:"data_sha256"`
		Duration   float64 `json:"duration_s"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, Errorf(EINVALID, "%s is not valid JSON: %v", TrainingFile, err)
	}
	if f.Settings == nil {
		return nil, Errorf(EINVALID, "%s has no settings", TrainingFile)
	}
	st := f.Settings
	if st.BatchSize < 0 || st.GradAccum < 0 || st.BatchSize > 1<<16 || st.GradAccum > 1<<16 {
		return nil, Errorf(EINVALID, "training summary: batch %d × %d is out of range", st.BatchSize, st.GradAccum)
	}
	s := &TrainingSummary{Strategy: f.Recipe.Name, Mode: st.Mode, LoRARank: st.LoRARank, LoRAAlpha: st.LoRAAlpha, LR: st.LR,
		Epochs: st.Epochs, BatchSize: st.BatchSize * max(st.GradAccum, 1), Schedule: st.Schedule, WarmupRatio: st.WarmupRatio,
		MinLRRatio: st.MinLRRatio, WeightDecay: st.WeightDecay, Steps: st.Steps, Examples: f.Tokenize.Examples,
		Tokens: f.Tokenize.Tokens, DataSHA256: f.DataSHA256, Seconds: f.Duration}
	if s.Mode == "full" {
		s.LoRARank, s.LoRAAlpha = 0, 0
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", TrainingFile, err)
	}
	return s, nil
}
