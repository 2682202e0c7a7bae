package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

// runCLI runs the command tree in this process with args and returns what it
// printed and the error main would report.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("CRUCIBLE_HOME", t.TempDir())
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestCLIBadInput checks that commands refuse bad input before doing any
// work, with an error that names the flag and why, and a hint where the
// operator has to act.
func TestCLIBadInput(t *testing.T) {
	alice, err := sign.FromURI("//Alice")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + closedAddr(t)
	tests := []struct {
		name string
		args []string
		want string // in the error
		hint string // in the hint; "" when none is expected
	}{
		{"auditor without flags", []string{"auditor"}, "--validator and --validator-hotkey are required", "--validator-hotkey"},
		{"auditor without hotkey", []string{"auditor", "--validator", down}, "--validator-hotkey is required", "prints both"},
		{"auditor URL without scheme", []string{"auditor", "--validator", "127.0.0.1:8090", "--validator-hotkey", alice.Address()},
			`--validator "127.0.0.1:8090" is not an http(s) URL`, "base URL"},
		{"auditor bad hotkey", []string{"auditor", "--validator", down, "--validator-hotkey", "bogus"},
			`--validator-hotkey "bogus" is not an SS58 address`, ""},
		{"auditor validator down", []string{"auditor", "--validator", down, "--validator-hotkey", alice.Address()},
			"connection refused", "is the validator running there? check --validator"},
		{"chain port not a number", []string{"chain", "--db", "", "--listen", "127.0.0.1:abc"},
			`port "abc" is not a number from 0 to 65535`, ""},
		{"chain port out of range", []string{"chain", "--db", "", "--listen", "127.0.0.1:99999"},
			`port "99999" is not a number`, ""},
		{"keys import unknown word", []string{"keys", "import", "--name", "k", "--mnemonic",
			"abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandn about"},
			`word 11 "abandn" is not in the BIP39 English word list`, ""},
		{"train without flags", []string{"train"}, "--model, --data and --out are required: missing --model, --data, --out", ""},
		{"train without --out", []string{"train", "--model", "m", "--data", "d.jsonl"}, "are required: missing --out", ""},
		{"eval without --data", []string{"eval", "--model", "m"}, "--model and --data are required: missing --data", ""},
		{"generate without --prompt", []string{"generate", "--model", "m"}, "missing --prompt", ""},
		{"generate negative temperature", []string{"generate", "--model", "m", "--prompt", "hi", "--temperature", "-1"}, "--temperature -1: must be at least 0", ""},
		{"generate top-p over 1", []string{"generate", "--model", "m", "--prompt", "hi", "--top-p", "2"}, "--top-p 2: must be in [0, 1]", ""},
		{"generate no tokens", []string{"generate", "--model", "m", "--prompt", "hi", "--max-tokens", "0"}, "--max-tokens 0: must be at least 1", ""},
		{"a number flag given a word", []string{"validator", "--workers", "four"},
			`invalid argument "four" for "--workers" flag: not a whole number`, "see: crucible validator --help"},
		{"a duration without a unit", []string{"train", "--time", "5"},
			`invalid argument "5" for "--time" flag`, "a duration has a unit, e.g. 30s"},
		{"a negative seed", []string{"miner", "--seed", "-1"}, "not a whole number of at least 0", "crucible miner --help"},
		{"an unknown flag", []string{"keys", "new", "--bogus"}, "unknown flag: --bogus", "see: crucible keys new --help"},
		{"an unknown subcommand", []string{"keys", "bogus"}, `unknown command "bogus" for "crucible keys"`, "see: crucible keys --help"},
		{"a mistyped subcommand", []string{"tasks", "lsit"}, `unknown command "lsit" for "crucible tasks"`, "did you mean crucible tasks list?"},
		{"a missing argument", []string{"data", "check"}, "crucible data check accepts 1 arg(s), received 0", "usage: crucible data check FILE|DIR|org/name [flags]"},
		{"an argument too many", []string{"version", "x"}, `unknown command "x" for "crucible version"`, "usage: crucible version [flags]"},
		{"train negative learning rate", []string{"train", "--model", "m", "--data", "d.jsonl", "--out", "o", "--lr", "-1"},
			"--lr -1: must not be negative", "chosen automatically"},
		{"train negative batch size", []string{"train", "--model", "m", "--data", "d.jsonl", "--out", "o", "--batch-size", "-2"},
			"--batch-size -2: must not be negative", "chosen automatically"},
		{"eval negative max length", []string{"eval", "--model", "m", "--data", "d.jsonl", "--max-length", "-5"},
			"--max-length -5: must not be negative", "chosen automatically"},
		{"data check missing file", []string{"data", "check", "no-such-train.jsonl"},
			"no-such-train.jsonl does not exist", ""},
		{"data tokenize without flags", []string{"data", "tokenize"}, "--model, --data and --out are required", ""},
		{"data tokenize into a directory", []string{"data", "tokenize", "--model", "../../assets/models/crucible-tiny", "--data", "../../assets/datasets/facts.jsonl", "--out", t.TempDir()},
			"is a directory", "name the token file"},
		{"eval a file that is no token file", []string{"eval", "--model", "../../assets/models/crucible-tiny", "--tokens", "../../assets/datasets/facts.jsonl"},
			"not a valid token store", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, tt.args...)
			if err == nil {
				t.Fatalf("crucible %s succeeded", strings.Join(tt.args, " "))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
			hint := crucible.ErrorHint(err)
			if tt.hint == "" && hint != "" {
				t.Errorf("hint %q, want none", hint)
			}
			if !strings.Contains(hint, tt.hint) {
				t.Errorf("hint %q, want it to contain %q", hint, tt.hint)
			}
		})
	}
}

// TestKeysListEmpty checks that listing an empty key directory says so, on
// stderr (stdout stays empty for scripts), and still succeeds.
func TestKeysListEmpty(t *testing.T) {
	dir := t.TempDir()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"keys", "list", "--dir", dir})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 || !strings.Contains(errOut.String(), "no keys in "+dir+" (create one with: crucible keys new)") {
		t.Errorf("stdout %q, stderr %q", out.String(), errOut.String())
	}
}

// TestGroupCommandAlonePrintsHelp checks that a command that only groups
// subcommands prints its help and succeeds when run without one.
func TestGroupCommandAlonePrintsHelp(t *testing.T) {
	for _, group := range []string{"keys", "data", "tasks", "apikeys", "bench"} {
		out, err := runCLI(t, group)
		if err != nil || !strings.Contains(out, "Available Commands:") {
			t.Errorf("crucible %s: %v\n%s", group, err, out)
		}
	}
}
