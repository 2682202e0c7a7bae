package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/crucible-net/crucible/crucible"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "crucible",
		Short: "A decentralized, competitive fine-tuning network",
		Long: `crucible runs a competitive fine-tuning network in one binary.

A customer names a base model and a dataset. A validator keeps a hidden test
split, offers the task to miners, evaluates every submission on the hidden
split, delivers the best model and turns the results into weights; auditors
re-check it all.

Start with "crucible demo" to run a whole network on this machine.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.Version = version
	root.SetVersionTemplate(versionLine())
	root.InitDefaultVersionFlag()
	root.Flags().Lookup("version").Usage = "print the version and the commit it was built from"
	root.SetFlagErrorFunc(flagError)
	for _, add := range subcommands {
		root.AddCommand(add())
	}
	for _, c := range root.Commands() {
		strictArgs(c)
	}
	return root
}

// subcommands holds the constructors of the top-level subcommands; each
// subcommand's file registers itself in an init function, so adding a command
// touches only its own file.
var subcommands []func() *cobra.Command

func register(f func() *cobra.Command) { subcommands = append(subcommands, f) }

// requireFlags returns EINVALID naming the flags of cmd, among names, left
// empty, after the list of all of them ("--model and --data are required:
// missing --data"), or nil when all are set.
func requireFlags(cmd *cobra.Command, names ...string) error {
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

// flagError turns a flag the command line could not parse into an EINVALID
// error in plain words, with a hint: how durations are written, and where the
// command's flags are listed.
func flagError(c *cobra.Command, err error) error {
	msg := plainValueError(err.Error())
	hint := "see: " + c.CommandPath() + " --help"
	if strings.Contains(msg, "time: ") {
		hint = "a duration has a unit, e.g. 30s, 10m or 1h30m; " + hint
	}
	return crucible.Errorf(crucible.EINVALID, "%s", msg).WithHint(hint)
}

var strconvError = regexp.MustCompile(`strconv\.Parse(Int|Uint|Float|Bool): parsing "[^"]*": (invalid syntax|value out of range)`)

// plainValueError rewrites the strconv parts of a value error ("strconv.ParseInt:
// parsing \"x\": invalid syntax") as what the value is not.
func plainValueError(msg string) string {
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

// strictArgs makes c and the commands under it fail on arguments they do
// not take. A command that only groups subcommands ("crucible keys") prints
// its help when run alone, and refuses an unknown subcommand with status 1
// (cobra alone would print the help and exit 0); the argument errors of
// the others carry the command's usage line as a hint.
func strictArgs(c *cobra.Command) {
	for _, sub := range c.Commands() {
		strictArgs(sub)
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

// notNegative returns EINVALID for the first of the named numeric flags of
// cmd set below zero. Such flags take 0 (their default) to mean "choose
// automatically", so a negative value would otherwise be silently ignored.
func notNegative(cmd *cobra.Command, names ...string) error {
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

// printf writes to w and returns only the error, for text printers.
func printf(w io.Writer, format string, args ...any) error {
	_, err := fmt.Fprintf(w, format, args...)
	return err
}
