package reward

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/crucible-net/crucible/crucible"
)

// Parse reads the rewards a command was given, as --reward specs
// (ParseSpec) and --reward-file files (FromFile), and compiles them, so
// that a reward that does not parse or compile fails before any work.
func Parse(specs, files []string) ([]crucible.Reward, *Set, error) {
	var rs []crucible.Reward
	for _, s := range specs {
		r, err := ParseSpec(s)
		if err != nil {
			return nil, nil, crucible.Wrap(err, crucible.EINVALID, "--reward %s", s)
		}
		rs = append(rs, r)
	}
	for _, s := range files {
		r, err := FromFile(s)
		if err != nil {
			return nil, nil, err
		}
		rs = append(rs, r)
	}
	set, err := Compile(rs)
	if err != nil {
		return nil, nil, err
	}
	return rs, set, nil
}

// ReadList reads a JSON list of rewards (a grpo task's rewards, as a
// miner's external trainer gets them in CRUCIBLE_REWARDS); an unknown
// field is an error.
func ReadList(path string) ([]crucible.Reward, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "--rewards")
	}
	var rs []crucible.Reward
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "--rewards %s: not a JSON list of rewards", path)
	}
	return rs, nil
}

// WriteBuiltins lists the built-in rewards with their ranges, docs and
// arguments as a table.
func WriteBuiltins(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, b := range Builtins() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", b.Name, b.Range, b.Doc)
		var args []string
		for k := range b.Args {
			args = append(args, k)
		}
		sort.Strings(args)
		for _, a := range args {
			fmt.Fprintf(tw, "\t  %s\t%s\n", a, b.Args[a])
		}
	}
	return tw.Flush()
}

// scoreLine is one line of ScoreLines' input.
type scoreLine struct {
	Prompt     string         `json:"prompt"`
	Completion string         `json:"completion"`
	Extra      map[string]any `json:"extra"`
}

// scoreResult is one line of its output.
type scoreResult struct {
	Total  float64   `json:"total"`
	Parts  []float64 `json:"parts"`
	Errors []string  `json:"errors,omitempty"`
}

// ScoreLines scores JSON Lines of {"prompt", "completion", "extra"} from
// in with set, writing one line per input to out: the weighted total, each
// reward's raw value, and the errors of rewards that failed on it (they
// count 0), exactly as training and evaluation score. Blank lines are
// skipped; a line that is not such an object is an error naming it.
func ScoreLines(ctx context.Context, set *Set, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	bw := bufio.NewWriter(out)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	for line := 1; sc.Scan(); line++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l scoreLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return crucible.Errorf(crucible.EINVALID, "stdin:%d: not a JSON object with prompt, completion and extra: %v", line, err)
		}
		s, errs := set.ScoreLenient(l.Prompt, l.Completion, l.Extra)
		res := scoreResult{Total: s.Total, Parts: s.Parts}
		for _, e := range errs {
			res.Errors = append(res.Errors, e.Error())
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return sc.Err()
}
