package cli

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/crucible-net/crucible/config"
)

type innerConfig struct {
	Depth int `flag:"depth"`
}

type testConfig struct {
	innerConfig
	Addr    string        `flag:"addr"`
	Workers int           `flag:"workers"`
	Timeout time.Duration `flag:"timeout"`
	Tags    []string      `flag:"tags"`
	Debug   bool          `flag:"debug"`
}

func init() {
	config.Register(reflect.TypeFor[innerConfig](), map[string]config.Doc{"Depth": {Help: "depth"}})
	config.Register(reflect.TypeFor[testConfig](), map[string]config.Doc{"Addr": {Help: "listen address"},
		"Workers": {Help: "worker count"}, "Timeout": {Help: "timeout"}, "Tags": {Help: "tags"}, "Debug": {Help: "debug"}})
}

func (c *testConfig) Validate() error {
	if c.Workers < 1 {
		return errors.New("workers must be at least 1")
	}
	return nil
}

func runConfig(t *testing.T, args []string) (*testConfig, error) {
	t.Helper()
	cfg := &testConfig{Addr: ":8080", Workers: 2, Timeout: time.Second}
	cmd := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true}
	load := Bind(cmd, cfg)
	cmd.RunE = func(*cobra.Command, []string) error { return load() }
	cmd.SetArgs(args)
	return cfg, cmd.Execute()
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.json")
	if err := os.WriteFile(file, []byte(`{"addr":"file:1","workers":3,"timeout":"5s","tags":["a","b"],"debug":true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := runConfig(t, nil)
	if err != nil || cfg.Addr != ":8080" || cfg.Workers != 2 {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	cfg, err = runConfig(t, []string{"--config", file})
	if err != nil || cfg.Addr != "file:1" || cfg.Workers != 3 || cfg.Timeout != 5*time.Second || len(cfg.Tags) != 2 || !cfg.Debug {
		t.Fatalf("file: %+v %v", cfg, err)
	}
	t.Setenv("CRUCIBLE_WORKERS", "7")
	cfg, err = runConfig(t, []string{"--config", file})
	if err != nil || cfg.Workers != 7 || cfg.Addr != "file:1" {
		t.Fatalf("env over file: %+v %v", cfg, err)
	}
	cfg, err = runConfig(t, []string{"--config", file, "--workers", "9", "--depth", "4"})
	if err != nil || cfg.Workers != 9 || cfg.Depth != 4 {
		t.Fatalf("flag over env, embedded field: %+v %v", cfg, err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"nope":1}`), 0o600)
	if _, err := runConfig(t, []string{"--config", bad}); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := runConfig(t, []string{"--workers", "0"}); err == nil {
		t.Error("Validate not called")
	}
	t.Setenv("CRUCIBLE_TIMEOUT", "soon")
	if _, err := runConfig(t, nil); err == nil {
		t.Error("bad env value accepted")
	}
}

func TestPlainValueError(t *testing.T) {
	tests := []struct{ in, want string }{
		{`invalid argument "x" for "--n" flag: strconv.ParseInt: parsing "x": invalid syntax`, `invalid argument "x" for "--n" flag: not a whole number`},
		{`workers: strconv.ParseInt: parsing "9999999999999999999999": value out of range`, `workers: out of range`},
		{`strconv.ParseUint: parsing "-1": invalid syntax`, `not a whole number of at least 0`},
		{`strconv.ParseFloat: parsing "x": invalid syntax`, `not a number`},
		{`strconv.ParseBool: parsing "maybe": invalid syntax`, `not true or false`},
		{`time: missing unit in duration "5"`, `time: missing unit in duration "5"`},
	}
	for _, tt := range tests {
		if got := PlainValueError(tt.in); got != tt.want {
			t.Errorf("PlainValueError(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
