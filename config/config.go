// Package config is crucible's one configuration system. Every command
// (the daemons, and train, eval and generate) has one Config struct; each
// setting is a field with a `flag:"name"` tag, and its doc comment is its
// documentation: the first sentences are the help text, and a final
// sentence "Defaults to `VALUE`." states its default, once. A field
// without that sentence defaults to its zero value (or says in prose what
// it falls back to, such as a path in the state directory).
//
// The doc comments reach the binary through generated code: each package
// with a Config carries a go:generate line that runs tools/configdoc, which
// writes config_doc.go registering the fields' help and defaults here (a
// test keeps those files current). Defaults applies the registered defaults
// to a struct; Fields lists a struct's settings, with embedded structs
// flattened, for the command line to bind as flags, a JSON config file and
// CRUCIBLE_* environment variables (cmd/crucible). This package imports
// only the standard library, so that any package may document its Config
// with it.
package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Doc is one field's documentation, from its doc comment.
type Doc struct {
	Help    string // what the setting does: the doc comment without the field's name and the default
	Default string // the default as a flag value ("10s", "a,b"); "" for the zero value
}

var (
	mu   sync.RWMutex
	docs = map[reflect.Type]map[string]Doc{}
)

// Register records the documentation of struct type t's fields by Go field
// name. Generated code (config_doc.go) calls it in an init function.
func Register(t reflect.Type, fields map[string]Doc) {
	mu.Lock()
	defer mu.Unlock()
	docs[t] = fields
}

// Field is one setting of a Config: where it lives and how it is
// documented.
type Field struct {
	Name  string        // the flag name, from the field's `flag` tag
	Short string        // its one-letter form, from a `short` tag; "" for none
	Go    string        // the Go field name, for messages
	Doc   Doc           // its documentation; Doc.Help is "" when none was registered
	Value reflect.Value // the field itself, settable
}

// Env is the environment variable of a flag: CRUCIBLE_ plus the flag in
// upper case with dashes as underscores.
func Env(flag string) string {
	return "CRUCIBLE_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Fields lists the tagged fields of the struct cfg points to, descending
// into embedded structs (a daemon's Config embeds its package's), in
// declaration order. It returns an error naming a field that has no
// registered documentation: every setting must say what it does.
func Fields(cfg any) ([]Field, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: want a pointer to a struct, got %T", cfg)
	}
	var out []Field
	var walk func(v reflect.Value) error
	walk = func(v reflect.Value) error {
		t := v.Type()
		mu.RLock()
		fieldDocs := docs[t]
		mu.RUnlock()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				if err := walk(v.Field(i)); err != nil {
					return err
				}
				continue
			}
			name := f.Tag.Get("flag")
			if name == "" {
				continue
			}
			d, ok := fieldDocs[f.Name]
			if !ok || d.Help == "" {
				return fmt.Errorf("config: %s.%s (--%s) has no documentation: give it a doc comment and run go generate in %s",
					t.Name(), f.Name, name, t.PkgPath())
			}
			out = append(out, Field{Name: name, Short: f.Tag.Get("short"), Go: t.Name() + "." + f.Name, Doc: d, Value: v.Field(i)})
		}
		return nil
	}
	return out, walk(v.Elem())
}

// Defaults sets every field of the struct cfg points to that documents a
// default to it; the others keep their values. It panics on a default that
// does not parse as its field's type: that is a mistake in a doc comment,
// and the tests of every command catch it.
func Defaults(cfg any) {
	fields, err := Fields(cfg)
	if err != nil {
		panic(err)
	}
	for _, f := range fields {
		if f.Doc.Default == "" {
			continue
		}
		if err := Set(f.Value, f.Doc.Default); err != nil {
			panic(fmt.Sprintf("config: %s: documented default %q: %v", f.Go, f.Doc.Default, err))
		}
	}
}

// Set parses s into the field v as a flag would: numbers, booleans,
// durations (10s, 1h30m), and comma-separated lists for []string.
func Set(v reflect.Value, s string) error {
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = s
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		*p = n
	case *int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		*p = n
	case *uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		*p = n
	case *float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*p = d
	case *[]string:
		*p = nil
		if s != "" {
			*p = strings.Split(s, ",")
		}
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}
