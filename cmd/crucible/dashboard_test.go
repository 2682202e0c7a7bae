package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/miner"
	"github.com/crucible-net/crucible/server/browsertest"
	"github.com/crucible-net/crucible/sign"
	"github.com/crucible-net/crucible/sqlstore"
	"github.com/crucible-net/crucible/validator"
)

// TestDashboardOnRealNetwork drives the dashboard in Chromium against a real
// network (validator with its customer API, two miners with the engine's
// strategies, the real evaluator): log in, upload a bad dataset and see its
// errors, upload a good one, start a task, watch it complete, download the
// winner. Screenshots go to $CRUCIBLE_TEST_ARTIFACTS.
func TestDashboardOnRealNetwork(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	// A models folder holding the tiny test model under a name.
	assetsModels := filepath.Join(dir, "models")
	os.MkdirAll(assetsModels, 0o755)
	if err := os.Rename(tinyModel(t), filepath.Join(assetsModels, "tiny")); err != nil {
		t.Fatal(err)
	}
	models := newModelResolver(assetsModels)
	vcfg := validator.DefaultConfig()
	vcfg.Listen, vcfg.DB, vcfg.BlobDir = "127.0.0.1:0", filepath.Join(dir, "validator.db"), filepath.Join(dir, "blobs")
	vcfg.TestCap, vcfg.OfferTimeout = 50, 10*time.Second
	store, err := sqlstore.Open(ctx, vcfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	local, err := embeddedChain(store)
	if err != nil {
		t.Fatal(err)
	}
	go local.Run(ctx, 200*time.Millisecond)
	vkey, _ := sign.FromURI("//dashboard-test//validator")
	vn, err := startValidator(ctx, validatorParts{cfg: vcfg, key: vkey, chain: local, models: models, store: store,
		evaluator: engineEvaluator{}, poll: 500 * time.Millisecond, workers: 2, minRows: vcfg.MinRows,
		modelList: assetModels(assetsModels)})
	if err != nil {
		t.Fatal(err)
	}
	if err := joinChain(ctx, local, vkey, vn.lis.Addr().String(), 1000); err != nil {
		t.Fatal(err)
	}
	for i, strat := range []string{"lora-fast", "full"} {
		key, _ := sign.FromURI(fmt.Sprintf("//dashboard-test//miner-%d", i))
		mcfg := miner.DefaultConfig()
		mcfg.Listen, mcfg.WorkDir, mcfg.Strategy = "127.0.0.1:0", filepath.Join(dir, "miners", strat), strat
		mcfg.MinHours, mcfg.UploadMargin = 0, 2*time.Second
		s, err := newStrategy(mcfg, uint64(i+1), nil)
		if err != nil {
			t.Fatal(err)
		}
		mn, err := startMiner(mcfg, s, key, local, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := joinChain(ctx, local, key, mn.addr(), 0); err != nil {
			t.Fatal(err)
		}
		go mn.run(ctx)
	}
	if err := local.RunEpoch(ctx); err != nil {
		t.Fatal(err)
	}
	secret, err := vn.bootstrapAdmin(ctx)
	if err != nil || secret == "" {
		t.Fatalf("bootstrap: %q %v", secret, err)
	}
	go vn.run(ctx)

	bad := filepath.Join(t.TempDir(), "facts-bad.csv")
	os.WriteFile(bad, []byte("question,answer\n\"What is 2+2?\",4\n\"Unclosed,5\n"), 0o644)
	browsertest.CustomerFlow(t, browsertest.Flow{
		BaseURL: "http://" + vn.lis.Addr().String(), Key: secret, Model: "tiny",
		BadDataset: bad, Dataset: firstLines(t, "facts.jsonl", 200), WantType: "instruct", Hours: "0.004",
		Timeout: 4 * time.Minute, Prefix: "network-",
	})
}
