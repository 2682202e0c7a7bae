package localnet_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/minernode"
	"github.com/crucible-net/crucible/node/validatornode"
)

// TestEstimatePriceAndFleet runs a validator with a price table and a miner
// that takes budgets of half an hour and more: an estimate quotes the
// price by the model's tier, counts the miner online once it answered the
// heartbeat, and warns when the budget is below its minimum.
func TestEstimatePriceAndFleet(t *testing.T) {
	prices := filepath.Join(t.TempDir(), "prices.json")
	os.WriteFile(prices, []byte(`{"currency": "USD", "per": "hour", "minimum": 0.25,
		"tiers": [{"up_to_params": 100000, "price": 1.5}, {"price": 40}]}`), 0o644)
	net := startNet(t, []string{"lora-fast"}, func(c *validatornode.Config) {
		c.Prices, c.HeartbeatEvery = prices, 100*time.Millisecond
	}, func(c *minernode.Config) { c.MinHours = 0.5 })
	ctx := context.Background()
	ds := facts(t, 120)
	var est *api.Estimate
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		est, err = net.Validator.Estimate(ctx, api.CreateTaskRequest{Type: crucible.TaskInstruct, Model: "tiny", Dataset: ds, Hours: 2})
		if err != nil {
			t.Fatal(err)
		}
		if est.Miners == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if est.Miners != 1 || est.MinersFit != 1 || len(est.Warnings) != 0 {
		t.Fatalf("estimate with a 2 h budget: %d online, %d fit, warnings %v", est.Miners, est.MinersFit, est.Warnings)
	}
	// The tiny model is over 100k parameters: the second tier.
	if est.Currency != "USD" || est.Price != 80 || !strings.Contains(est.PriceBasis, "40 USD an hour") {
		t.Errorf("price %g %s (%s)", est.Price, est.Currency, est.PriceBasis)
	}
	short, err := net.Validator.Estimate(ctx, api.CreateTaskRequest{Type: crucible.TaskInstruct, Model: "tiny", Dataset: ds, Hours: 0.005})
	if err != nil {
		t.Fatal(err)
	}
	if short.MinersFit != 0 || len(short.Warnings) != 1 || !strings.Contains(short.Warnings[0], "below every online miner's minimum (the lowest is 0.5 h)") {
		t.Errorf("estimate below the minimum: %d fit, %v", short.MinersFit, short.Warnings)
	}
	if short.Price != 0.25 || !strings.Contains(short.PriceBasis, "minimum") {
		t.Errorf("a price below the minimum: %g (%s)", short.Price, short.PriceBasis)
	}
}

// TestPriceTableRefusals checks that a price table with a mistake stops the
// validator from starting, naming the file and the mistake.
func TestPriceTableRefusals(t *testing.T) {
	for _, body := range []string{`{"currency": "USD", "per": "day", "tiers": [{"price": 1}]}`, `{"currency": "", "per": "hour", "tiers": [{"price": 1}]}`,
		`{"currency": "USD", "per": "hour", "tiers": []}`, `{"currency": "USD", "per": "hour", "tiers": [{"price": -1}]}`, `{"curency": "USD"}`, `not json`} {
		p := filepath.Join(t.TempDir(), "prices.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := validatornode.LoadPriceTable(p); crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v", body, err)
		}
	}
}
