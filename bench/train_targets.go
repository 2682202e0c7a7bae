package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// trainTarget is one figure of a bench train run set against the goal the
// engine is held to: LoRA's speed-up over full fine-tuning, evaluation's
// over training, and peak resident memory where a size is promised.
type trainTarget struct {
	Config string
	What   string  // the figure, e.g. "LoRA ÷ full tokens/s"
	Value  float64 // the figure over wall-clock time
	// PerCPU is the same figure over the CPU time each row got (0 when
	// unknown): on a machine shared with other work, rows run at different
	// moments get different shares of the cores, and this evens them out.
	PerCPU float64
	Unit   string // "×" or " GiB"
	Goal   float64
	AtMost bool // the goal is an upper bound (memory), else a lower bound
	Met    bool
}

// Goals of the engine on a CPU like the development machine's (see
// `crucible bench train --help`).
const (
	goalLoRAOverFull = 1.5     // LoRA tokens/s ÷ full fine-tuning tokens/s
	goalEvalOverFull = 3.0     // evaluation tokens/s ÷ full fine-tuning tokens/s
	goal124MFullRSS  = 1.6     // GiB, GPT-2 124M full fine-tuning peak RSS
	goalHalfBLoRARSS = 3.0     // GiB, LoRA on a 0.5B model at T=512
	goalHalfBEval    = 150.0   // tokens/s, evaluation of a 0.5B model
	gib              = 1 << 30 // bytes
)

// trainTargets checks rows against the goals that apply to them. A ratio
// needs both rows of one config in one precision; rows without their pair
// are skipped.
func trainTargets(rows []trainBenchRow) []trainTarget {
	type key struct{ config, prec, mode string }
	byKey := map[key]trainBenchRow{}
	var order []string
	for _, r := range rows {
		k := key{r.Config, r.Precision, r.Mode}
		if _, ok := byKey[k]; !ok && !slices.Contains(order, r.Config+"\x00"+r.Precision) {
			order = append(order, r.Config+"\x00"+r.Precision)
		}
		byKey[k] = r
	}
	perCPU := func(r trainBenchRow) float64 {
		if r.CPUUtil > 0 {
			return r.TokensPerS / r.CPUUtil
		}
		return 0
	}
	ratio := func(cfg, what string, a, b trainBenchRow, goal float64) trainTarget {
		t := trainTarget{Config: cfg, What: what, Value: a.TokensPerS / b.TokensPerS, Unit: "×", Goal: goal}
		if pa, pb := perCPU(a), perCPU(b); pa > 0 && pb > 0 {
			t.PerCPU = pa / pb
		}
		t.Met = t.Value >= goal
		return t
	}
	var out []trainTarget
	for _, cp := range order {
		cfg, prec, _ := strings.Cut(cp, "\x00")
		full, hasFull := byKey[key{cfg, prec, "full"}]
		lora, hasLoRA := byKey[key{cfg, prec, "lora"}]
		ev, hasEval := byKey[key{cfg, prec, "eval"}]
		label := cfg + " " + prec
		if hasFull && hasLoRA {
			out = append(out, ratio(label, "LoRA ÷ full tokens/s", lora, full, goalLoRAOverFull))
		}
		if hasFull && hasEval {
			out = append(out, ratio(label, "eval ÷ full tokens/s", ev, full, goalEvalOverFull))
		}
		if hasFull && strings.HasPrefix(cfg, "gpt2-124m") {
			v := float64(full.PeakRSSBytes) / gib
			out = append(out, trainTarget{Config: label, What: "full peak RSS", Value: v, Unit: " GiB", Goal: goal124MFullRSS, AtMost: true, Met: v <= goal124MFullRSS})
		}
		if cfg == "qwen2.5-0.5b" {
			if hasLoRA {
				v := float64(lora.PeakRSSBytes) / gib
				out = append(out, trainTarget{Config: label, What: fmt.Sprintf("LoRA peak RSS (T=%d)", lora.Seq), Value: v, Unit: " GiB", Goal: goalHalfBLoRARSS, AtMost: true, Met: v <= goalHalfBLoRARSS})
			}
			if hasEval {
				out = append(out, trainTarget{Config: label, What: "eval tokens/s", Value: ev.TokensPerS, PerCPU: perCPU(ev), Goal: goalHalfBEval, Met: ev.TokensPerS >= goalHalfBEval})
			}
		}
	}
	return out
}

// printTrainTargets writes the targets under the table: each figure, its
// goal, met or not, and the per-CPU figure where the cores were shared.
func printTrainTargets(w io.Writer, ts []trainTarget) {
	if len(ts) == 0 {
		return
	}
	fmt.Fprintln(w, "targets (\"per CPU\": over the CPU time each row got, steadier on a shared machine):")
	for _, t := range ts {
		op := "≥"
		if t.AtMost {
			op = "≤"
		}
		verdict := "met"
		if !t.Met {
			verdict = "NOT MET"
		}
		val := fmt.Sprintf("%.2f%s", t.Value, t.Unit)
		goal := fmt.Sprintf("%g%s", t.Goal, t.Unit)
		if t.Unit == "" {
			val, goal = fmt.Sprintf("%.0f", t.Value), fmt.Sprintf("%g", t.Goal)
		}
		extra := ""
		if t.PerCPU > 0 {
			if t.Unit == "" {
				extra = fmt.Sprintf(" (%.0f at a full share of the cores)", t.PerCPU)
			} else {
				extra = fmt.Sprintf(" (%.2f%s per CPU)", t.PerCPU, t.Unit)
			}
		}
		fmt.Fprintf(w, "  %-22s %-24s %s%s, goal %s %s: %s\n", t.Config, t.What, val, extra, op, goal, verdict)
	}
}
