package localnet_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/crucible-net/crucible/server/browsertest"
)

// TestDashboardOnRealNetwork drives the dashboard in Chromium against a real
// network (validator with its customer API, two miners with the engine's
// strategies, the real evaluator): log in, upload a bad dataset and see its
// errors, upload a good one, start a task, watch it complete, download the
// winner, and read the network page's counters. Screenshots go to $CRUCIBLE_TEST_ARTIFACTS.
func TestDashboardOnRealNetwork(t *testing.T) {
	// Without a browser there is nothing to drive: skip before starting
	// a network only to stop it.
	if browsertest.Chromium() == "" {
		t.Skip("no chromium binary: install Debian's chromium (apt-get install -y chromium) to run the browser test")
	}
	net := startNet(t, []string{"lora-fast", "full"}, nil, nil)
	secret := net.Validator.AdminKey()
	if secret == "" {
		t.Fatal("no admin key on a fresh validator")
	}

	bad := filepath.Join(t.TempDir(), "facts-bad.csv")
	os.WriteFile(bad, []byte("question,answer\n\"What is 2+2?\",4\n\"Unclosed,5\n"), 0o644)
	res := browsertest.CustomerFlow(t, browsertest.Flow{
		BaseURL: net.Validator.URL(), Key: secret, Model: "tiny",
		BadDataset: bad, Dataset: facts(t, 200), WantType: "instruct", Hours: "0.004",
		Timeout: 4 * time.Minute, Prefix: "network-",
	})
	// The network page counts two miners and one validator, though the
	// miners' earnings may have bought them validator permits.
	if res.MinersShown != "2" || res.ValidatorsShown != "1" || res.TasksShown == "0" {
		t.Errorf("network page counts %s miners, %s validators, %s tasks; want 2, 1 and the tasks run", res.MinersShown, res.ValidatorsShown, res.TasksShown)
	}
}
