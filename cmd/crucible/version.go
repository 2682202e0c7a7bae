package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/ml/kernel"
)

// version is set at link time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func init() { register(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and CPU features",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "crucible %s\n", version)
			fmt.Fprintf(w, "commit:   %s\n", buildCommit())
			fmt.Fprintf(w, "go:       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			fmt.Fprintf(w, "cpus:     %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
			if name := kernel.CPUModel(); name != "" {
				fmt.Fprintf(w, "cpu:      %s\n", name)
			}
			fmt.Fprintf(w, "features: %s\n", strings.Join(kernel.CPUFeatures(), " "))
			fmt.Fprintf(w, "kernels:  gemm %s; bf16 %s (auto precision %s)\n", strings.Join(kernel.Variants(), ", "), strings.Join(kernel.BF16Variants(), ", "), kernel.AutoPrecision())
			return nil
		},
	}
}

// buildCommit is the commit the binary was built from, marked when the
// work tree had changes. A binary built without version control stamps
// (go run, -buildvcs=false) asks git for the commit of the working
// directory's checkout, marked as such; "unknown" when that fails too.
func buildCommit() string {
	commit, modified := "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit == "" {
		return worktreeCommit()
	}
	if modified {
		commit += " (modified)"
	}
	return commit
}

// worktreeCommit is the commit checked out in the working directory, for
// a binary that carries none.
func worktreeCommit() string {
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	commit := strings.TrimSpace(string(out))
	if err != nil || len(commit) < 7 {
		return "unknown"
	}
	note := "from the checkout; the binary carries no commit"
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		note = "modified checkout; the binary carries no commit"
	}
	return commit + " (" + note + ")"
}

// versionLine is what "crucible --version" prints: the version and commit
// ("crucible version" adds Go, the CPU and its kernels).
func versionLine() string {
	return fmt.Sprintf("crucible %s (commit %s, %s %s/%s)\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
