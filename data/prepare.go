package data

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// Standard column names of prepared splits, as Gradients renames them, so
// that the served files do not name the source dataset's columns.
const (
	ColInstruction   = "instruct"
	ColInput         = "input"
	ColOutput        = "output"
	ColSystem        = "system"
	ColPrompt        = "prompt"
	ColChosen        = "chosen"
	ColRejected      = "rejected"
	ColConversations = "conversations"
	ColText          = "text"
)

// StandardMapping is the mapping of prepared splits for task type t,
// keeping the templates of m.
func StandardMapping(t crucible.TaskType, m crucible.ColumnMapping) crucible.ColumnMapping {
	m = WithDefaults(t, m)
	switch t {
	case crucible.TaskInstruct:
		return crucible.ColumnMapping{FieldInstruction: ColInstruction, FieldInput: ColInput, FieldOutput: ColOutput, FieldSystem: ColSystem,
			Format: m.Format, NoInputFormat: m.NoInputFormat, SystemFormat: m.SystemFormat}
	case crucible.TaskDPO:
		return crucible.ColumnMapping{FieldPrompt: ColPrompt, FieldChosen: ColChosen, FieldRejected: ColRejected, FieldSystem: ColSystem,
			PromptFormat: m.PromptFormat, ChosenFormat: m.ChosenFormat, RejectedFormat: m.RejectedFormat}
	case crucible.TaskChat:
		return crucible.ColumnMapping{ChatColumn: ColConversations, ChatRoleField: "role", ChatContentField: "content",
			ChatUserRole: RoleUser, ChatAssistRole: RoleAssistant, ChatSystemRole: RoleSystem}
	case crucible.TaskGRPO:
		// Extra columns keep their names: the rewards read them by name.
		return crucible.ColumnMapping{FieldPrompt: ColPrompt, FieldSystem: ColSystem, PromptFormat: m.PromptFormat, ExtraColumns: m.ExtraColumns}
	}
	return crucible.ColumnMapping{FieldText: ColText}
}

// PrepareOptions controls Prepare.
type PrepareOptions struct {
	// Type and Mapping say how to read the rows; see Settle for what is
	// detected when they are not complete.
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping
	Split   SplitOptions
	// MaxBadRows is how many unreadable rows are tolerated (and dropped)
	// before Prepare gives up. 0 means none.
	MaxBadRows int
}

// Prepared describes the splits Prepare wrote.
type Prepared struct {
	Type      crucible.TaskType      `json:"type"`
	Mapping   crucible.ColumnMapping `json:"mapping"` // of the written splits (standard column names)
	Reason    string                 `json:"reason,omitempty"`
	TrainRows int                    `json:"train_rows"`
	TestRows  int                    `json:"test_rows"`
	Groups    int                    `json:"groups"`     // distinct prompts
	Empty     int                    `json:"empty_rows"` // dropped: nothing to learn from
	BadRows   int                    `json:"bad_rows"`   // dropped: unreadable (at most MaxBadRows)
}

// Prepare turns a dataset into a train and a test split, written as JSON
// Lines with standard column names (see StandardMapping): it reads the
// dataset once to collect prompts and split them (see Splitter), and a
// second time to write each row to its side, so memory stays constant in
// the rows' size. Rows with nothing to learn from are dropped; more than
// 80% of them fails, as in Gradients. Errors are EINVALID and name the
// offending row.
func Prepare(path string, opt PrepareOptions, train, test io.Writer) (*Prepared, error) {
	p := &Prepared{}
	var err error
	if p.Type, p.Mapping, p.Reason, err = Settle(path, opt.Type, opt.Mapping); err != nil {
		return nil, err
	}
	f, err := NewFormatter(p.Type, p.Mapping)
	if err != nil {
		return nil, err
	}
	s := NewSplitter(opt.Split)
	rows := 0
	err = eachExample(path, f, opt.MaxBadRows, &p.BadRows, func(ex Example, _ Row) error {
		rows++
		if ex.Empty() {
			p.Empty++
			return nil
		}
		s.Add(ex.PromptKey())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rows > 0 && p.Empty*5 > rows*4 {
		return nil, crucible.Errorf(crucible.EINVALID, "%s: %d of %d rows have nothing to learn from (more than 80%%)", path, p.Empty, rows)
	}
	a, err := s.Split()
	if err != nil {
		return nil, err
	}
	p.Groups = a.Groups
	tw, sw := bufio.NewWriter(train), bufio.NewWriter(test)
	i, bad := 0, 0
	err = eachExample(path, f, opt.MaxBadRows, &bad, func(ex Example, r Row) error {
		if ex.Empty() {
			return nil
		}
		if i >= a.Rows {
			return fmt.Errorf("%s changed while it was being prepared", path)
		}
		w := tw
		if a.IsTest(i) {
			w, p.TestRows = sw, p.TestRows+1
		} else {
			p.TrainRows++
		}
		i++
		b, err := json.Marshal(standardRow(f, ex, r))
		if err != nil {
			return err
		}
		w.Write(b)
		return w.WriteByte('\n')
	})
	if err != nil {
		return nil, err
	}
	if i != a.Rows {
		return nil, fmt.Errorf("%s changed while it was being prepared", path)
	}
	if err := tw.Flush(); err != nil {
		return nil, fmt.Errorf("write train split: %w", err)
	}
	if err := sw.Flush(); err != nil {
		return nil, fmt.Errorf("write test split: %w", err)
	}
	p.Mapping = StandardMapping(p.Type, f.Mapping)
	return p, nil
}

// standardRow renames a row's mapped columns to the standard names. Values
// are the raw column values (templates are applied when the split is read
// with the standard mapping), stringified as Gradients does.
func standardRow(f *Formatter, ex Example, r Row) map[string]any {
	m := f.Mapping
	str := func(col string) string {
		s, _ := optionalStringField(r, col)
		return s
	}
	switch f.Type {
	case crucible.TaskInstruct:
		return map[string]any{ColInstruction: str(m.FieldInstruction), ColInput: str(m.FieldInput), ColOutput: str(m.FieldOutput), ColSystem: str(m.FieldSystem)}
	case crucible.TaskDPO:
		if ex.Messages != nil {
			// Conversational: the system text is in the messages; the
			// answers are written unformatted, as the templates apply
			// when the split is read.
			raw := *f
			raw.Mapping.ChosenFormat, raw.Mapping.RejectedFormat = DefaultChosenFormat, DefaultRejectedFormat
			var plain Example
			raw.dpo(r, &plain)
			return map[string]any{ColPrompt: ex.Messages, ColChosen: plain.Chosen, ColRejected: plain.Rejected}
		}
		return map[string]any{ColPrompt: str(m.FieldPrompt), ColChosen: str(m.FieldChosen), ColRejected: str(m.FieldRejected), ColSystem: str(m.FieldSystem)}
	case crucible.TaskChat:
		return map[string]any{ColConversations: ex.Messages}
	case crucible.TaskGRPO:
		out := map[string]any{ColPrompt: str(m.FieldPrompt), ColSystem: str(m.FieldSystem)}
		for k, v := range ex.Extra {
			out[k] = v
		}
		return out
	}
	return map[string]any{ColText: ex.Text}
}

// eachExample reads and shapes every row of a dataset, calling fn on each.
// Up to maxBad unreadable rows are counted in *bad and skipped; one more is
// an EINVALID error naming it (and the first ones).
func eachExample(path string, f *Formatter, maxBad int, bad *int, fn func(Example, Row) error) error {
	files := []string{path}
	if fs, err := DataFiles(path); err == nil {
		files = fs
	}
	var first []string
	fail := func(err error) error {
		*bad++
		if len(first) < 5 {
			first = append(first, err.Error())
		}
		if *bad > maxBad {
			return crucible.Errorf(crucible.EINVALID, "dataset %s has unreadable rows: %s", path, strings.Join(first, "; "))
		}
		return nil
	}
	for _, file := range files {
		r, err := OpenFile(file)
		if err != nil {
			var de *Error
			if errors.As(err, &de) {
				if err := fail(err); err != nil {
					return err
				}
				continue
			}
			return err
		}
		if err := f.CheckSchema(file, r.Schema()); err != nil {
			r.Close()
			return crucible.Wrap(err, crucible.EINVALID, "dataset %s does not fit the column mapping", path)
		}
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err == nil {
				var ex Example
				if ex, err = f.Example(row); err == nil {
					if err := fn(ex, row); err != nil {
						r.Close()
						return err
					}
					continue
				}
			}
			var de *Error
			if !errors.As(err, &de) {
				r.Close()
				return err
			}
			if err := fail(err); err != nil {
				r.Close()
				return err
			}
		}
		r.Close()
	}
	return nil
}

// Examples reads a whole dataset into memory as examples of task type t
// under mapping m (for the splits a trainer or evaluator works on). The
// first bad row is an EINVALID error naming it.
func Examples(path string, t crucible.TaskType, m crucible.ColumnMapping) ([]Example, error) {
	f, err := NewFormatter(t, m)
	if err != nil {
		return nil, err
	}
	var out []Example
	bad := 0
	err = eachExample(path, f, 0, &bad, func(ex Example, _ Row) error {
		out = append(out, ex)
		return nil
	})
	return out, err
}

// TokenizedSet is a dataset ready for training or evaluation: sequences for
// instruct, chat and text tasks, pairs for dpo.
type TokenizedSet struct {
	Type      crucible.TaskType
	Sequences []Sequence
	Pairs     []Pair
	Stats     TokenizeStats
}

// TokenizeFile reads a dataset (typically a prepared split, with
// StandardMapping) and tokenizes every example: the one call a trainer or
// evaluator needs between a split file and its batches.
func TokenizeFile(path string, t crucible.TaskType, m crucible.ColumnMapping, tok Tokenizer, opt TokenizeOptions) (*TokenizedSet, error) {
	exs, err := Examples(path, t, m)
	if err != nil {
		return nil, err
	}
	set := &TokenizedSet{Type: t}
	if t == crucible.TaskDPO {
		set.Pairs, set.Stats, err = TokenizePairs(tok, exs, opt)
	} else {
		set.Sequences, set.Stats, err = TokenizeAll(tok, exs, opt)
	}
	if err != nil {
		return nil, err
	}
	return set, nil
}
