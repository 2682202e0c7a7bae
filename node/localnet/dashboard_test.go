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
// winner. Screenshots go to $CRUCIBLE_TEST_ARTIFACTS.
func TestDashboardOnRealNetwork(t *testing.T) {
	net := startNet(t, []string{"lora-fast", "full"}, nil, nil)
	secret := net.Validator.AdminKey()
	if secret == "" {
		t.Fatal("no admin key on a fresh validator")
	}

	bad := filepath.Join(t.TempDir(), "facts-bad.csv")
	os.WriteFile(bad, []byte("question,answer\n\"What is 2+2?\",4\n\"Unclosed,5\n"), 0o644)
	browsertest.CustomerFlow(t, browsertest.Flow{
		BaseURL: net.Validator.URL(), Key: secret, Model: "tiny",
		BadDataset: bad, Dataset: facts(t, 200), WantType: "instruct", Hours: "0.004",
		Timeout: 4 * time.Minute, Prefix: "network-",
	})
}
