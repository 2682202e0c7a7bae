package reward

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
)

// ParseSpec reads a reward as written on the command line: a JSON object
// {"name": ..., "weight": ..., "args": {...}}, or NAME[:key=value,...]
// where the key weight sets the weight (default 1) and every other key is
// an argument of the built-in NAME, e.g.
//
//	numeric_answer:field=answer,tolerance=0.01,weight=2
//	length_window:max=20
func ParseSpec(spec string) (crucible.Reward, error) {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "{") {
		var r crucible.Reward
		dec := json.NewDecoder(strings.NewReader(spec))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			return r, crucible.Errorf(crucible.EINVALID, "reward %s: not a reward object: %v", clip(spec, 60), err)
		}
		if r.Weight == 0 && !strings.Contains(spec, `"weight"`) {
			r.Weight = 1
		}
		return r, r.Validate()
	}
	name, rest, _ := strings.Cut(spec, ":")
	r := crucible.Reward{Name: strings.TrimSpace(name), Weight: 1}
	if rest != "" {
		for _, kv := range strings.Split(rest, ",") {
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" {
				return r, crucible.Errorf(crucible.EINVALID, "reward %s: %q is not key=value", spec, kv).
					WithHint(`write NAME:key=value,key=value, or a JSON object {"name": ..., "args": {...}} when a value holds a comma`)
			}
			if k == "weight" {
				w, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return r, crucible.Errorf(crucible.EINVALID, "reward %s: weight %q is not a number", spec, v)
				}
				r.Weight = w
				continue
			}
			if r.Args == nil {
				r.Args = map[string]any{}
			}
			r.Args[k] = v
		}
	}
	return r, r.Validate()
}

// FromFile reads a Starlark reward from a file. The spec is PATH or
// PATH:weight=W; the reward is named after the file (without .star).
func FromFile(spec string) (crucible.Reward, error) {
	path, weight := spec, 1.0
	if i := strings.LastIndex(spec, ":weight="); i >= 0 {
		w, err := strconv.ParseFloat(spec[i+len(":weight="):], 64)
		if err != nil {
			return crucible.Reward{}, crucible.Errorf(crucible.EINVALID, "reward file %s: weight %q is not a number", spec, spec[i+len(":weight="):])
		}
		path, weight = spec[:i], w
	}
	st, err := os.Stat(path)
	if err != nil {
		return crucible.Reward{}, crucible.Wrap(err, crucible.EINVALID, "reward file %s", path)
	}
	if st.Size() > crucible.MaxRewardCodeSize {
		return crucible.Reward{}, crucible.Errorf(crucible.EINVALID, "reward file %s: %d bytes is over the %d-byte limit", path, st.Size(), crucible.MaxRewardCodeSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return crucible.Reward{}, crucible.Wrap(err, crucible.EINVALID, "reward file %s", path)
	}
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	name = strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, name)
	if name == "" || name[0] >= '0' && name[0] <= '9' || name[0] == '-' || name[0] == '.' {
		name = "r_" + name
	}
	r := crucible.Reward{Name: name, Weight: weight, Code: string(b)}
	if err := r.Validate(); err != nil {
		return r, err
	}
	if strings.TrimSpace(r.Code) == "" {
		return r, crucible.Errorf(crucible.EINVALID, "reward file %s is empty", path).WithHint("define reward(prompt, completion, extra) returning a number")
	}
	return r, nil
}

// Describe renders a reward for logs: name, weight and args or "starlark".
func Describe(r crucible.Reward) string {
	what := "built-in"
	if r.Code != "" {
		what = "starlark"
	} else if len(r.Args) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Args) {
			parts = append(parts, fmt.Sprintf("%s=%s", k, valueText(r.Args[k])))
		}
		what = strings.Join(parts, ",")
	}
	return fmt.Sprintf("%s×%g (%s)", r.Name, r.Weight, what)
}
