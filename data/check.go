package data

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/crucible-net/crucible/crucible"
)

// CheckOptions controls Check.
type CheckOptions struct {
	// Type and Mapping say how to read the rows. An empty Type means
	// detect both; a Type with an empty Mapping takes the detected mapping
	// when detection agrees on the type, else the type's defaults.
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping
	// Tokenizer, when set, gives token-length statistics.
	Tokenizer    Tokenizer
	ChatTemplate ChatTemplate
	// MaxLength counts the rows longer than this many tokens (needs
	// Tokenizer); 0 disables.
	MaxLength     int
	TrainOnInputs bool
	// MaxErrors caps the errors listed; the rest are counted. Defaults to 100.
	MaxErrors int
	// Split gives the split rule whose test size the report shows.
	Split SplitOptions
	// CheckExample, when set, checks each good row further (a grpo task's
	// reward functions run on it); an error makes the row bad.
	CheckExample func(Example) error
}

// TokenStats summarises token lengths over the good rows.
type TokenStats struct {
	Min     int     `json:"min"`
	Mean    float64 `json:"mean"`
	P50     int     `json:"p50"`
	P95     int     `json:"p95"`
	Max     int     `json:"max"`
	Total   int64   `json:"total"`
	OverMax int     `json:"over_max_length"` // rows longer than MaxLength
}

// Report is what Check found.
type Report struct {
	Path      string                 `json:"path"`
	Files     []string               `json:"files"`
	Type      crucible.TaskType      `json:"type,omitempty"`
	Mapping   crucible.ColumnMapping `json:"mapping"`
	Detected  bool                   `json:"detected"`         // detection chose the type or filled in the mapping
	Reason    string                 `json:"reason,omitempty"` // why detection chose them
	Rows      int                    `json:"rows"`             // rows read and shaped without error
	BadRows   int                    `json:"bad_rows"`         // rows with an error
	EmptyRows int                    `json:"empty_rows"`       // good rows with nothing to learn from
	// DuplicateRows counts rows equal to an earlier row; DuplicatePrompts
	// rows whose normalized prompt appeared before (duplicates included).
	DuplicateRows    int         `json:"duplicate_rows"`
	DuplicatePrompts int         `json:"duplicate_prompts"`
	MaxLength        int         `json:"max_length,omitempty"`
	Tokens           *TokenStats `json:"tokens,omitempty"`
	Truncated        int         `json:"-"`
	TestRows         int         `json:"test_rows"` // what the split would hold out
	Errors           []string    `json:"errors"`
	ErrorsOmitted    int         `json:"errors_omitted,omitempty"`
	// Warnings are findings that do not fail the check: too few rows for a
	// task, dpo rows whose answers are the same.
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether the dataset passed: no errors at all.
func (r *Report) OK() bool { return len(r.Errors) == 0 }

// checker accumulates a report.
type checker struct {
	hash *maphash.Hash
	opt  CheckOptions
	rep  *Report
	// The rows' and prompts' hashes, for the duplicate counts, and the
	// token lengths: in memory that does not grow with the rows (see
	// hashRuns and lengthCounts).
	rowHashes    hashRuns
	promptHashes hashRuns
	lengths      lengthCounts
	read         atomic.Int64 // bytes read from the files
}

func (c *checker) warn(msg string) {
	if len(c.rep.Warnings) < c.opt.MaxErrors {
		c.rep.Warnings = append(c.rep.Warnings, msg)
	}
}

func (c *checker) fail(err error) {
	if len(c.rep.Errors) < c.opt.MaxErrors {
		c.rep.Errors = append(c.rep.Errors, err.Error())
	} else {
		c.rep.ErrorsOmitted++
	}
}

// Check reads a whole dataset (a file or a Hugging Face dataset directory)
// and reports its size, format, mapping, empty and duplicate rows, token
// lengths and every problem, each as "file:line: field: problem". Problems
// with the data land in the report; the error return is for a path that
// cannot be read at all or an invalid mapping.
func Check(path string, opt CheckOptions) (*Report, error) {
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = 100
	}
	rep := &Report{Path: path, MaxLength: opt.MaxLength, Errors: []string{}}
	c := &checker{opt: opt, rep: rep}
	st, err := os.Stat(path)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.ENOTFOUND, "check dataset %s", path)
	}
	files := []string{path}
	if st.IsDir() {
		if files, err = DataFiles(path); err != nil {
			return nil, crucible.Wrap(err, crucible.EINVALID, "check dataset")
		}
	}
	rep.Files = files

	f, err := c.formatter(path)
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			c.fail(err)
			return rep, nil
		}
		if crucible.ErrorCode(err) == crucible.EINVALID && opt.Type == "" {
			// Nothing usable detected: a finding about the data.
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %s", path, err))
			return rep, nil
		}
		return nil, err
	}
	for _, file := range files {
		if err := c.checkFile(f, file); err != nil {
			return nil, err
		}
	}
	c.finish()
	return rep, nil
}

// formatter settles the task type and mapping, detecting what is not given.
func (c *checker) formatter(path string) (*Formatter, error) {
	rep := c.rep
	t, m, reason, err := Settle(path, c.opt.Type, c.opt.Mapping)
	if err != nil {
		return nil, err
	}
	rep.Type, rep.Mapping, rep.Reason = t, m, reason
	rep.Detected = reason != "" && !isDefaultsReason(reason)
	f, err := NewFormatter(t, m)
	if err != nil {
		return nil, err
	}
	rep.Mapping = f.Mapping
	return f, nil
}

func isDefaultsReason(reason string) bool { return strings.HasPrefix(reason, "mapping as given") }

func (c *checker) checkFile(f *Formatter, file string) error {
	r, err := openFile(file, &c.read)
	if err != nil {
		var de *Error
		if errors.As(err, &de) {
			c.fail(err)
			return nil
		}
		return err
	}
	defer r.Close()
	if err := f.CheckSchema(file, r.Schema()); err != nil {
		c.fail(err)
		return nil
	}
	for {
		row, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				return err
			}
			c.rep.BadRows++
			c.fail(err)
			continue
		}
		ex, err := f.Example(row)
		if err != nil {
			c.rep.BadRows++
			c.fail(err)
			continue
		}
		if err := c.checkExample(row, ex); err != nil {
			c.rep.BadRows++
			c.fail(err)
			continue
		}
		c.rep.Rows++
	}
}

func (c *checker) checkExample(row Row, ex Example) error {
	if ex.Empty() {
		c.rep.EmptyRows++
	}
	if ex.Type == crucible.TaskDPO && ex.Chosen == ex.Rejected && ex.Chosen != "" {
		c.warn(errorf(row.Pos, c.rep.Mapping.FieldRejected, "the rejected answer is the same as the chosen one").Error())
	}
	c.rowHashes.add(c.rowHash(row.Values))
	c.promptHashes.add(PromptHash(ex.PromptKey()))
	if c.opt.Tokenizer != nil {
		n, err := Length(c.opt.Tokenizer, ex, TokenizeOptions{TrainOnInputs: c.opt.TrainOnInputs, ChatTemplate: c.opt.ChatTemplate})
		if err != nil {
			return err
		}
		if ex.Type == crucible.TaskGRPO && c.opt.MaxLength > 0 && n > c.opt.MaxLength {
			// A prompt cannot be cut without changing the question.
			return errorf(row.Pos, c.rep.Mapping.FieldPrompt, "the prompt has %d tokens, over the %d that leave room for a completion", n, c.opt.MaxLength)
		}
		c.lengths.add(n)
	}
	if c.opt.CheckExample != nil && !ex.Empty() {
		if err := c.opt.CheckExample(ex); err != nil {
			return err
		}
	}
	return nil
}

// rowHash hashes a row's values canonically (map keys in order, each value
// tagged with its type), so that equal rows hash equally within one check.
func (c *checker) rowHash(values map[string]any) uint64 {
	if c.hash == nil {
		c.hash = &maphash.Hash{}
	}
	h := c.hash
	h.Reset()
	hashValue(h, values)
	return h.Sum64()
}

func writeLen(h *maphash.Hash, n int) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
}

func hashValue(h *maphash.Hash, v any) {
	switch x := v.(type) {
	case nil:
		h.WriteByte('n')
	case string:
		h.WriteByte('s')
		writeLen(h, len(x))
		h.WriteString(x)
	case []byte:
		h.WriteByte('s')
		writeLen(h, len(x))
		h.Write(x)
	case bool:
		if x {
			h.WriteByte('t')
		} else {
			h.WriteByte('f')
		}
	case []any:
		h.WriteByte('[')
		writeLen(h, len(x))
		for _, e := range x {
			hashValue(h, e)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h.WriteByte('{')
		writeLen(h, len(keys))
		for _, k := range keys {
			hashValue(h, k)
			hashValue(h, x[k])
		}
	default: // numbers of any kind
		fmt.Fprintf(h, "#%v", x)
	}
}

func (c *checker) finish() {
	rep := c.rep
	var ok1, ok2 bool
	rep.DuplicateRows, ok1 = c.rowHashes.repeats()
	rep.DuplicatePrompts, ok2 = c.promptHashes.repeats()
	if !ok1 || !ok2 {
		c.warn(rep.Path + ": the duplicate counts are incomplete: a temporary file of row hashes could not be read back")
	}
	if rep.Rows == 0 && rep.BadRows == 0 && len(rep.Errors) == 0 {
		rep.Errors = append(rep.Errors, rep.Path+": the dataset has no rows")
	}
	if rep.Rows > 0 && rep.EmptyRows*5 > rep.Rows*4 {
		rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %d of %d rows have nothing to learn from (more than 80%%)", rep.Path, rep.EmptyRows, rep.Rows))
	}
	if rep.Rows > 0 {
		rep.TestRows = TestSize(rep.Rows, c.opt.Split)
		if min := c.opt.Split.withDefaults().MinRows; min > 0 && rep.Rows < min {
			c.warn(fmt.Sprintf("%s: %d good rows, fewer than the %d a task needs (min_rows)", rep.Path, rep.Rows, min))
		}
	}
	rep.Tokens = c.lengths.stats(c.opt.MaxLength)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s\n", label, fmt.Sprintf(format, args...))
	}
	files := "1 file"
	if len(r.Files) != 1 {
		files = fmt.Sprintf("%d files", len(r.Files))
	}
	line("dataset", "%s (%s)", r.Path, files)
	line("rows", "%d good, %d with errors", r.Rows, r.BadRows)
	if r.Type != "" {
		how := "given"
		if r.Detected {
			how = "detected"
		}
		line("format", "%s (%s)", r.Type, how)
		if r.Reason != "" {
			line("", "%s", r.Reason)
		}
		line("mapping", "%s", mappingText(r.Mapping))
	}
	line("empty", "%s with nothing to learn from", rows(r.EmptyRows))
	line("duplicates", "%s an earlier row, %s an earlier prompt", repeatText(r.DuplicateRows), repeatText(r.DuplicatePrompts))
	if t := r.Tokens; t != nil {
		line("tokens", "min %d, mean %.1f, p50 %d, p95 %d, max %d, total %d", t.Min, t.Mean, t.P50, t.P95, t.Max, t.Total)
		if r.MaxLength > 0 {
			line("too long", "%s over %d tokens", rows(t.OverMax), r.MaxLength)
		}
	}
	if r.Rows > 0 {
		line("split", "%s would be held out for testing, %d left to train on", rows(r.TestRows), r.Rows-r.TestRows)
	}
	if len(r.Warnings) > 0 {
		line("warnings", "%d", len(r.Warnings))
		for _, msg := range r.Warnings {
			fmt.Fprintf(w, "  %s\n", msg)
		}
	}
	if r.OK() {
		line("result", "ok")
		return
	}
	n := len(r.Errors) + r.ErrorsOmitted
	line("result", "%d error%s", n, plural(n))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if r.ErrorsOmitted > 0 {
		fmt.Fprintf(w, "  ... and %d more\n", r.ErrorsOmitted)
	}
}

func rows(n int) string { return fmt.Sprintf("%d row%s", n, plural(n)) }

func repeatText(n int) string {
	if n == 1 {
		return "1 row repeats"
	}
	return fmt.Sprintf("%d rows repeat", n)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// mappingText renders the set fields of a mapping as name=value pairs, in
// the order of the JSON field names.
func mappingText(m crucible.ColumnMapping) string {
	b, _ := json.Marshal(m)
	var fields []string
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		fields = append(fields, fmt.Sprintf("%s=%q", k, v))
	}
	return strings.Join(fields, " ")
}
