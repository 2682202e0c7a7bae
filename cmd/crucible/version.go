package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

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
			if name := cpuModel(); name != "" {
				fmt.Fprintf(w, "cpu:      %s\n", name)
			}
			fmt.Fprintf(w, "features: %s\n", strings.Join(cpuFeatures(), " "))
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

// cpuModel is the CPU's model name from /proc/cpuinfo ("" where unknown).
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cpuFeatures lists the instruction set extensions the ML kernels care about.
func cpuFeatures() []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64":
		add(cpu.X86.HasSSE42, "sse4.2")
		add(cpu.X86.HasAVX, "avx")
		add(cpu.X86.HasAVX2, "avx2")
		add(cpu.X86.HasFMA, "fma")
		add(cpu.X86.HasAVX512F, "avx512f")
		add(cpu.X86.HasAVX512BW, "avx512bw")
		add(cpu.X86.HasAVX512VL, "avx512vl")
		add(cpu.X86.HasAVX512BF16, "avx512bf16")
		add(cpu.X86.HasAVX512VNNI, "avx512vnni")
		add(cpu.X86.HasAMXBF16 && cpu.X86.HasAMXTile, "amx-bf16")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "asimd")
		add(cpu.ARM64.HasFPHP, "fp16")
		add(cpu.ARM64.HasSVE, "sve")
	}
	if len(f) == 0 {
		f = append(f, "(none detected)")
	}
	return f
}
