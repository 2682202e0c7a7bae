package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/crucible-net/crucible/config"
)

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

// Configuration: every command's settings are one Config struct (package
// config): each field has a `flag:"name"` tag, and its doc comment is its
// help and states its default. The value the struct holds when bindConfig
// is called is the default (DefaultConfig functions apply the documented
// ones). Each field can then be set, from lowest to highest precedence, by:
//
//	a config file      --config FILE (JSON; keys are the flag names)
//	the environment    CRUCIBLE_<FLAG> (upper case, '-' becomes '_')
//	a flag             --<flag>
//
// After loading, a Config with a Validate() error method is validated.

// bindConfig registers a flag for every documented field of the struct cfg
// points to, plus --config, and returns a function that applies the file
// and environment and validates; call it at the start of RunE. It panics on
// a field without documentation (the command tree's test builds them all).
func bindConfig(cmd *cobra.Command, cfg any) func() error {
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
			panic(fmt.Sprintf("bindConfig: field %s has unsupported type %T", field.Go, p))
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
					return fmt.Errorf("environment %s=%q: %s", config.Env(name), env, plainValueError(err.Error()))
				}
				continue
			}
			if raw, ok := file[name]; ok {
				if err := setFromJSON(fl, raw); err != nil {
					return fmt.Errorf("config %s: %s: %s", configFile, name, plainValueError(err.Error()))
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

// configured binds cfg's flags to cmd and runs run with the loaded settings.
func configured[C any](cmd *cobra.Command, cfg *C, run func(ctx context.Context, cfg *C) error) *cobra.Command {
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		return run(cmd.Context(), cfg)
	}
	return cmd
}

// withArgs is configured for a command that takes arguments.
func withArgs[C any](cmd *cobra.Command, cfg *C, run func(cmd *cobra.Command, cfg *C, args []string) error) *cobra.Command {
	load := bindConfig(cmd, cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		return run(cmd, cfg, args)
	}
	return cmd
}
