package dataprep

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
)

// ApplyHoneypot rewrites a prepared split (JSONL in the standard columns of
// t) in place with the changes h describes (see crucible.Honeypot): the
// prompt marker before every prompt, the answer marker after the answers of
// the rows it picks by content (so a row is changed the same way in both
// splits), and chosen and rejected swapped when h says so.
func ApplyHoneypot(h crucible.Honeypot, t crucible.TaskType, path string) error {
	return honeypot(h).apply(t, path)
}

// honeypot applies a crucible.Honeypot.
type honeypot crucible.Honeypot

// marks reports whether row i (by its content) gets the answer marker.
func (h honeypot) marks(line []byte) bool {
	s := sha256.Sum256(append([]byte(h.AnswerMarker), line...))
	return float64(binary.LittleEndian.Uint32(s[:4]))/float64(1<<32) < h.AnswerShare
}

func (h honeypot) apply(t crucible.TaskType, path string) error {
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

func (h honeypot) row(t crucible.TaskType, row map[string]any, mark bool) {
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
