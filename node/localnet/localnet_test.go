package localnet_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/node/localnet"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
)

// models returns a models folder holding the tiny test model as "tiny".
func models(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "models")
	if _, err := localnet.TinyModel(dir, "tiny"); err != nil {
		t.Fatal(err)
	}
	return dir
}

// facts returns the first n rows of the shipped facts dataset.
func facts(t *testing.T, n int) string {
	t.Helper()
	p, err := localnet.SampleDataset(t.TempDir(), assets.Facts, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startNet runs a network of miners with the given strategies on the tiny
// model until the test ends; validator and miner adjust the nodes'
// configurations.
func startNet(t *testing.T, miners []string, validator func(*validatornode.Config), miner func(*minernode.Config)) *localnet.Net {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cfg := localnet.Config{Dir: t.TempDir(), Models: models(t), Miners: miners,
		Validator: func(c *validatornode.Config) {
			c.TestCap, c.OfferTimeout, c.Poll = 50, 10*time.Second, 500*time.Millisecond
			if validator != nil {
				validator(c)
			}
		},
		Miner: func(_ int, c *minernode.Config) {
			c.UploadMargin = 2 * time.Second
			if miner != nil {
				miner(c)
			}
		},
	}
	if os.Getenv("CRUCIBLE_TEST_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	net, err := localnet.Start(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := net.Wait(); err != nil {
			t.Errorf("network stopped with: %v", err)
		}
	})
	if err := net.Validator.SyncMetagraph(ctx); err != nil {
		t.Fatal(err)
	}
	return net
}

// TestDemo runs the demo's whole network — chain, validator, four miners
// with the real strategies, the real evaluator — on a tiny model.
func TestDemo(t *testing.T) {
	cfg := localnet.DefaultDemoConfig()
	cfg.Dir, cfg.Assets, cfg.Dataset = t.TempDir(), filepath.Join("..", "..", "assets"), facts(t, 240)
	cfg.Budget, cfg.Listen, cfg.Exit = 20*time.Second, "127.0.0.1:0", true
	var err error
	if cfg.Model, err = localnet.TinyModel(t.TempDir(), "tiny"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := localnet.Demo(ctx, cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"status training", "result uploaded", "base model test loss", "status success",
		"leaderboard", "winner:", "before and after", "weights set on chain", "incentive", "TAO per tempo", "tempos a day"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(cfg.Dir, "winner"))
	if len(entries) == 0 {
		t.Error("the winner was not unpacked")
	}
}

// TestDemoGRPO runs the demo with a grpo task — the shipped arithmetic
// problems with the demo's rewards — on the tiny model: miners train by
// GRPO, the validator ranks by reward, highest first. (Its budget leaves
// four miners sampling on two cores under the race detector time for a
// few steps.)
func TestDemoGRPO(t *testing.T) {
	cfg := localnet.DefaultDemoConfig()
	cfg.Dir, cfg.Assets, cfg.Type = t.TempDir(), filepath.Join("..", "..", "assets"), "grpo"
	var err error
	if cfg.Dataset, err = localnet.SampleDataset(t.TempDir(), assets.Arithmetic, 240); err != nil {
		t.Fatal(err)
	}
	// Each miner trains two steps and uploads; the task is evaluated once
	// all have. The budget is only the deadline, generous, so that the
	// outcome does not hang on how busy the machine is (with a 40 s budget
	// shared by four miners on two loaded cores, none finished a step).
	cfg.Budget, cfg.MaxSteps, cfg.Listen, cfg.Exit = 3*time.Minute, 2, "127.0.0.1:0", true
	if cfg.Model, err = localnet.TinyModel(t.TempDir(), "tiny"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := localnet.Demo(ctx, cfg, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	if testing.Verbose() {
		t.Log(s)
	}
	for _, want := range []string{"(grpo)", "reward ", "base model reward", "status success", "leaderboard (reward", "numeric_answer / number_first",
		"highest reward", "winner:", "weights set on chain"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}
