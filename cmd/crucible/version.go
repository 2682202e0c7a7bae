package main

import (
	"fmt"
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

// buildCommit is the commit the binary was built from, "unknown" when the
// build carries none, marked when the work tree had changes.
func buildCommit() string {
	commit, modified := "unknown", false
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
	if modified {
		commit += " (modified)"
	}
	return commit
}

// versionLine is what "crucible --version" prints: the version and commit
// ("crucible version" adds Go, the CPU and its kernels).
func versionLine() string {
	return fmt.Sprintf("crucible %s (commit %s, %s %s/%s)\n", version, buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
