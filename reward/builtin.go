package reward

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// BuiltinInfo describes a built-in reward for help texts and the API.
type BuiltinInfo struct {
	Name  string            `json:"name"`
	Doc   string            `json:"doc"`
	Range string            `json:"range"`
	Args  map[string]string `json:"args,omitempty"` // name -> meaning and default
}

type builtinDef struct {
	info BuiltinInfo
	make func(a *args) (Func, error)
}

var builtins = map[string]builtinDef{}

func register(info BuiltinInfo, mk func(a *args) (Func, error)) {
	builtins[info.Name] = builtinDef{info: info, make: mk}
}

// Builtins lists the built-in rewards, sorted by name.
func Builtins() []BuiltinInfo {
	out := make([]BuiltinInfo, 0, len(builtins))
	for _, d := range builtins {
		out = append(out, d.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// BuiltinNames lists the built-in rewards' names, sorted.
func BuiltinNames() []string {
	var out []string
	for _, b := range Builtins() {
		out = append(out, b.Name)
	}
	return out
}

// Builtin returns the built-in reward name set up with args. Unknown
// names and args, and args of the wrong type, are errors naming them.
func Builtin(name string, raw map[string]any) (Func, error) {
	d, ok := builtins[name]
	if !ok {
		return nil, &Error{Reward: name, Problem: fmt.Sprintf("no built-in reward of this name (have %s); a reward of your own needs its Starlark code", strings.Join(BuiltinNames(), ", "))}
	}
	a := &args{reward: name, raw: raw, used: map[string]bool{}}
	f, err := d.make(a)
	if err != nil {
		return nil, err
	}
	for k := range raw {
		if _, known := d.info.Args[k]; !known {
			var names []string
			for n := range d.info.Args {
				names = append(names, n)
			}
			sort.Strings(names)
			have := "it takes none"
			if len(names) > 0 {
				have = "it takes " + strings.Join(names, ", ")
			}
			return nil, &Error{Reward: name, Problem: fmt.Sprintf("unknown argument %q (%s)", k, have)}
		}
	}
	return f, nil
}

// args reads a built-in's settings, given as JSON values or as strings
// (from the command line).
type args struct {
	reward string
	raw    map[string]any
	used   map[string]bool
}

func (a *args) errf(format string, v ...any) error {
	return &Error{Reward: a.reward, Problem: fmt.Sprintf(format, v...)}
}

func (a *args) str(name, def string) string {
	v, ok := a.raw[name]
	if !ok || v == nil {
		return def
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

func (a *args) num(name string, def float64) (float64, error) {
	v, ok := a.raw[name]
	if !ok || v == nil {
		return def, nil
	}
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, a.errf("argument %s: %q is not a number", name, x)
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, a.errf("argument %s: %q is not a number", name, x)
		}
	default:
		return 0, a.errf("argument %s: %v is not a number", name, v)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, a.errf("argument %s: %v is not a finite number", name, f)
	}
	return f, nil
}

func (a *args) boolean(name string, def bool) (bool, error) {
	v, ok := a.raw[name]
	if !ok || v == nil {
		return def, nil
	}
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, a.errf("argument %s: %q is not true or false", name, x)
		}
		return b, nil
	}
	return false, a.errf("argument %s: %v is not true or false", name, v)
}

// field returns the extra column a built-in compares with.
func (a *args) field() (string, error) {
	f := strings.TrimSpace(a.str("field", "answer"))
	if f == "" {
		return "", a.errf("argument field: empty column name")
	}
	return f, nil
}

// extraText returns extra[field] as text, or an error when the row has no
// such column or leaves it empty.
func extraText(reward, field string, extra map[string]any) (string, error) {
	v, ok := extra[field]
	if !ok {
		return "", &Error{Reward: reward, Problem: fmt.Sprintf("the row has no extra column %q (extra columns: %s)", field, strings.Join(sortedKeys(extra), ", "))}
	}
	s := valueText(v)
	if strings.TrimSpace(s) == "" {
		return "", &Error{Reward: reward, Problem: fmt.Sprintf("extra column %q is empty in this row", field)}
	}
	return s, nil
}

// valueText renders a row value as text: strings as they are, integral
// numbers without a fraction, anything else as JSON.
func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// answerPart is the part of a completion that states its final answer:
// what follows the last "####" (GSM8K style), else the content of the last
// <answer>...</answer>, else the whole completion.
func answerPart(c string) string {
	if i := strings.LastIndex(c, "####"); i >= 0 {
		return c[i+4:]
	}
	if i := strings.LastIndex(c, "<answer>"); i >= 0 {
		rest := c[i+len("<answer>"):]
		if j := strings.Index(rest, "</answer>"); j >= 0 {
			return rest[:j]
		}
		return rest
	}
	return c
}

func normalizeAnswer(s string, caseSensitive bool) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.TrimRight(s, ".!")
	if !caseSensitive {
		s = strings.ToLower(s)
	}
	return s
}

var numberRE = regexp.MustCompile(`[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?`)

// parseNumber reads a number written with optional thousands separators.
func parseNumber(s string) (float64, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	s = strings.TrimPrefix(s, "$")
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// lastNumber is the last number written in s.
func lastNumber(s string) (float64, bool) {
	all := numberRE.FindAllString(s, -1)
	for i := len(all) - 1; i >= 0; i-- {
		if f, ok := parseNumber(all[i]); ok {
			return f, true
		}
	}
	return 0, false
}

// funcOf adapts a Go function to Func.
type funcOf struct {
	score func(prompt, completion string, extra map[string]any) (float64, error)
	needs []string
}

func (f funcOf) Score(p, c string, e map[string]any) (float64, error) { return f.score(p, c, e) }
func (f funcOf) Needs() []string                                      { return f.needs }
