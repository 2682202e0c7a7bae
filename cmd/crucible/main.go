// Command crucible is the one binary of the crucible network: the validator,
// miners, the local chain, the auditor, the trainer, the evaluator and the
// customer CLI, one subcommand each.
package main

//go:generate go run github.com/crucible-net/crucible/tools/configdoc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/crucible-net/crucible/crucible"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var exit exitError
		if errors.As(err, &exit) {
			if exit.msg != "" {
				fmt.Fprintln(os.Stderr, exit.msg)
			}
			os.Exit(exit.code)
		}
		fmt.Fprintln(os.Stderr, "crucible:", err)
		if hint := crucible.ErrorHint(err); hint != "" && !containsHint(err) {
			fmt.Fprintln(os.Stderr, "hint:", hint)
		}
		os.Exit(1)
	}
}

// exitError ends the process with a given status, for commands (like data
// check) whose status carries meaning beyond success or failure.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// containsHint reports whether err's text already carries its hint.
func containsHint(err error) bool {
	var e *crucible.Error
	return errors.As(err, &e) && e.Hint != ""
}
