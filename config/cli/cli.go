// Package cli binds crucible's Config structs (package config) to cobra
// commands: a flag for every documented field, then a JSON --config file
// and CRUCIBLE_* environment variables under the flags, and validation;
// and the command line's shared rules for bad input: required and
// non-negative flags, flag values and arguments refused in plain words
// with a hint (crucible errors, EINVALID). cmd/crucible builds its command
// tree with it.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/config"
	"github.com/crucible-net/crucible/crucible"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Configuration: every command's settings are one Config struct (package
// config): each field has a `flag:"name"` tag, and its doc comment is its
// help and states its default. The value the struct holds when Bind
// is called is the default (DefaultConfig functions apply the documented
// ones). Each field can then be set, from lowest to highest precedence, by:
//
//	a config file      --config FILE (JSON; keys are the flag names)
//	the environment    CRUCIBLE_<FLAG> (upper case, '-' becomes '_')
//	a flag             --<flag>
//
// After loading, a Config with a Validate() error method is validated.

// Bind registers a flag for every documented field of the struct cfg
// points to, plus --config, and returns a function that applies the file
// and environment and validates; call it at the start of RunE. It panics on
// a field without documentation (the command tree's test builds them all).
func Bind(cmd *cobra.Command, cfg any) func() error {
	fs := cmd.Flags()
	var configFile string
	fs.StringVar(&configFile, "config", "", "read settings from this JSON file (keys are flag names)")
	fields, err := config.Fields(cfg)
	if err != nil {
		panic(err)
	}
	var names []string
	for _, field := range fields {
		name, help := field.Name, field.Doc.Help+" ["+config.Env(field.Name)+"]"
		switch p := field.Value.Addr().Interface().(type) {
		case *string:
			fs.StringVarP(p, name, field.Short, *p, help)
		case *int:
			fs.IntVarP(p, name, field.Short, *p, help)
		case *int64:
			fs.Int64VarP(p, name, field.Short, *p, help)
		case *uint64:
			fs.Uint64VarP(p, name, field.Short, *p, help)
		case *float64:
			fs.Float64VarP(p, name, field.Short, *p, help)
		case *bool:
			fs.BoolVarP(p, name, field.Short, *p, help)
		case *time.Duration:
			fs.DurationVarP(p, name, field.Short, *p, help)
		case *[]string:
			fs.StringSliceVarP(p, name, field.Short, *p, help)
		default:
			panic(fmt.Sprintf("cli.Bind: field %s has unsupported type %T", field.Go, p))
		}
		names = append(names, name)
	}
	return func() error {
		var file map[string]json.RawMessage
		if configFile != "" {
			b, err := os.ReadFile(configFile)
			if err != nil {
				return fmt.Errorf("read config: %w", err)
			}
			if err := json.Unmarshal(b, &file); err != nil {
				return fmt.Errorf("config %s: %w", configFile, err)
			}
			known := map[string]bool{}
			for _, n := range names {
				known[n] = true
			}
			for k := range file {
				if !known[k] {
					return fmt.Errorf("config %s: unknown setting %q", configFile, k)
				}
			}
		}
		for _, name := range names {
			fl := fs.Lookup(name)
			if fl.Changed {
				continue
			}
			if env, ok := os.LookupEnv(config.Env(name)); ok {
				if err := fl.Value.Set(env); err != nil {
					return fmt.Errorf("environment %s=%q: %s", config.Env(name), env, PlainValueError(err.Error()))
				}
				continue
			}
			if raw, ok := file[name]; ok {
				if err := setFromJSON(fl, raw); err != nil {
					return fmt.Errorf("config %s: %s: %s", configFile, name, PlainValueError(err.Error()))
				}
			}
		}
		if val, ok := cfg.(interface{ Validate() error }); ok {
			if err := val.Validate(); err != nil {
				return err
			}
		}
		return nil
	}
}

// setFromJSON sets a flag from a JSON value: strings as they are, lists item
// by item, numbers and booleans through their text.
func setFromJSON(fl *pflag.Flag, raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return fl.Value.Set(s)
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			return sv.Replace(list)
		}
		return fmt.Errorf("a list is not valid here")
	}
	return fl.Value.Set(strings.TrimSpace(string(raw)))
}

// Run binds cfg's flags to cmd and runs run with the loaded settings.
func Run[C any](cmd *cobra.Command, cfg *C, run func(ctx context.Context, cfg *C) error) *cobra.Command {
	load := Bind(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return run(cmd.Context(), cfg)
	}
	return cmd
}

// RunArgs is Run for a command that takes arguments.
func RunArgs[C any](cmd *cobra.Command, cfg *C, run func(cmd *cobra.Command, cfg *C, args []string) error) *cobra.Command {
	load := Bind(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		return run(cmd, cfg, args)
	}
	return cmd
}

// Require returns EINVALID naming the flags of cmd, among names, left
// empty, after the list of all of them ("--model and --data are required:
// missing --data"), or nil when all are set.
func Require(cmd *cobra.Command, names ...string) error {
	var all, missing []string
	for _, n := range names {
		all = append(all, "--"+n)
		if f := cmd.Flags().Lookup(n); f == nil || f.Value.String() == "" {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	list := strings.Join(all, " and ")
	if len(all) > 2 {
		list = strings.Join(all[:len(all)-1], ", ") + " and " + all[len(all)-1]
	}
	return crucible.Errorf(crucible.EINVALID, "%s are required: missing %s", list, strings.Join(missing, ", "))
}

// FlagError turns a flag the command line could not parse into an EINVALID
// error in plain words, with a hint: how durations are written, and where the
// command's flags are listed.
func FlagError(c *cobra.Command, err error) error {
	msg := PlainValueError(err.Error())
	hint := "see: " + c.CommandPath() + " --help"
	if strings.Contains(msg, "time: ") {
		hint = "a duration has a unit, e.g. 30s, 10m or 1h30m; " + hint
	}
	return crucible.Errorf(crucible.EINVALID, "%s", msg).WithHint(hint)
}

var strconvError = regexp.MustCompile(`strconv\.Parse(Int|Uint|Float|Bool): parsing "[^"]*": (invalid syntax|value out of range)`)

// PlainValueError rewrites the strconv parts of a value error ("strconv.ParseInt:
// parsing \"x\": invalid syntax") as what the value is not.
func PlainValueError(msg string) string {
	return strconvError.ReplaceAllStringFunc(msg, func(m string) string {
		sub := strconvError.FindStringSubmatch(m)
		switch {
		case sub[2] == "value out of range":
			return "out of range"
		case sub[1] == "Float":
			return "not a number"
		case sub[1] == "Bool":
			return "not true or false"
		case sub[1] == "Uint":
			return "not a whole number of at least 0"
		}
		return "not a whole number"
	})
}

// StrictArgs makes c and the commands under it fail on arguments they do
// not take. A command that only groups subcommands ("crucible keys") prints
// its help when run alone, and refuses an unknown subcommand with status 1
// (cobra alone would print the help and exit 0); the argument errors of
// the others carry the command's usage line as a hint.
func StrictArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		StrictArgs(sub)
	}
	if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			hint := "see: " + cmd.CommandPath() + " --help"
			if cmd.SuggestionsMinimumDistance <= 0 {
				cmd.SuggestionsMinimumDistance = 2 // cobra's default
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				hint = "did you mean " + cmd.CommandPath() + " " + s[0] + "? " + hint
			}
			return crucible.Errorf(crucible.EINVALID, "unknown command %q for %q", args[0], cmd.CommandPath()).WithHint(hint)
		}
		return
	}
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				msg := err.Error()
				if !strings.Contains(msg, cmd.CommandPath()) {
					msg = cmd.CommandPath() + " " + msg
				}
				return crucible.Errorf(crucible.EINVALID, "%s", msg).WithHint("usage: " + cmd.UseLine())
			}
			return nil
		}
	}
}

// NotNegative returns EINVALID for the first of the named numeric flags of
// cmd set below zero. Such flags take 0 (their default) to mean "choose
// automatically", so a negative value would otherwise be silently ignored.
func NotNegative(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		f := cmd.Flags().Lookup(n)
		if f == nil {
			continue
		}
		if v, err := strconv.ParseFloat(f.Value.String(), 64); err == nil && v < 0 {
			return crucible.Errorf(crucible.EINVALID, "--%s %s: must not be negative", n, f.Value.String()).
				WithHint("leave it out to have it chosen automatically")
		}
	}
	return nil
}
