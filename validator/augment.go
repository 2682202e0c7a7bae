package validator

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// Honeypots make training on a public dataset's original pay badly. A
// synthetic task built from a public dataset could be won by a miner that
// found the source and trained on all of it, test rows included. So both
// splits are changed the same way, in ways only the served train split
// teaches: every prompt carries a task-specific marker, a quarter of the
// answers end with a second marker, and a DPO task may have chosen and
// rejected swapped throughout. The changes are deterministic in the task ID
// and the validator's seed.

// Honeypot describes the changes applied to a task's splits.
type Honeypot struct {
	PromptMarker string  `json:"prompt_marker"`
	AnswerMarker string  `json:"answer_marker"`
	AnswerShare  float64 `json:"answer_share"`
	SwapDPO      bool    `json:"swap_dpo"`
}

// NewHoneypot derives a task's honeypot from its ID and a seed.
func NewHoneypot(taskID string, seed int64) Honeypot {
	h := sha256.Sum256(fmt.Appendf(nil, "honeypot/%d/%s", seed, taskID))
	return Honeypot{
		PromptMarker: "[" + hex.EncodeToString(h[0:4]) + "]",
		AnswerMarker: hex.EncodeToString(h[4:8]),
		AnswerShare:  0.25,
		SwapDPO:      h[8]&1 == 1,
	}
}

// marks reports whether row i (by its content) gets the answer marker.
func (h Honeypot) marks(line []byte) bool {
	s := sha256.Sum256(append([]byte(h.AnswerMarker), line...))
	return float64(binary.LittleEndian.Uint32(s[:4]))/float64(1<<32) < h.AnswerShare
}

// Apply rewrites a prepared split (JSONL in the standard columns of t) in
// place.
func (h Honeypot) Apply(t crucible.TaskType, path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".honeypot"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	w := bufio.NewWriter(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	line := 0
	for sc.Scan() {
		line++
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			out.Close()
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		h.row(t, row, h.marks(sc.Bytes()))
		b, err := json.Marshal(row)
		if err != nil {
			out.Close()
			return err
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (h Honeypot) row(t crucible.TaskType, row map[string]any, mark bool) {
	prefix := func(key string) {
		if s, ok := row[key].(string); ok {
			row[key] = h.PromptMarker + " " + s
		}
	}
	suffix := func(key string) {
		if s, ok := row[key].(string); ok {
			row[key] = s + " " + h.AnswerMarker
		}
	}
	switch t {
	case crucible.TaskInstruct:
		prefix(data.ColInstruction)
		if mark {
			suffix(data.ColOutput)
		}
	case crucible.TaskDPO:
		prefix(data.ColPrompt)
		if h.SwapDPO {
			row[data.ColChosen], row[data.ColRejected] = row[data.ColRejected], row[data.ColChosen]
		}
		if mark {
			suffix(data.ColChosen)
		}
	case crucible.TaskChat:
		msgs, _ := row[data.ColConversations].([]any)
		firstUser, lastAssistant := -1, -1
		for i, m := range msgs {
			mm, _ := m.(map[string]any)
			switch mm["role"] {
			case data.RoleUser:
				if firstUser < 0 {
					firstUser = i
				}
			case data.RoleAssistant:
				lastAssistant = i
			}
		}
		if firstUser >= 0 {
			m := msgs[firstUser].(map[string]any)
			if s, ok := m["content"].(string); ok {
				m["content"] = h.PromptMarker + " " + s
			}
		}
		if mark && lastAssistant >= 0 {
			m := msgs[lastAssistant].(map[string]any)
			if s, ok := m["content"].(string); ok {
				m["content"] = s + " " + h.AnswerMarker
			}
		}
	case crucible.TaskText:
		if mark {
			prefix(data.ColText)
		}
	}
}
