package attack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

// TestSSRFTargets: even the network's own (permitted, staked) validator
// cannot send a miner to fetch from or upload to anything but the address
// it published on the chain: cloud metadata, other hosts, other schemes
// and URLs with credentials are refused before a job exists, naming the
// field.
func TestSSRFTargets(t *testing.T) {
	n := startNet(t, []string{"lora-fast"}, nil, nil)
	m, vkey := n.Miners[0], n.Validator.Key()
	url := "http://" + m.Addr() + api.PathStartTraining
	before := snapshot(t, n.dir)
	targets := map[string]struct {
		url    string
		status int
	}{
		"cloud metadata":  {"http://169.254.169.254/latest/meta-data/iam/", http.StatusForbidden},
		"a private host":  {"http://10.0.0.7:6379/", http.StatusForbidden},
		"another host":    {"http://192.0.2.10/x", http.StatusForbidden},
		"ipv6 link-local": {"http://[fe80::1]:80/", http.StatusForbidden},
		"a file":          {"file:///etc/passwd", http.StatusBadRequest},
		"gopher":          {"gopher://127.0.0.1:25/", http.StatusBadRequest},
		"credentials":     {"http://user:pass@127.0.0.1/", http.StatusBadRequest},
		"no host":         {"http:///x", http.StatusBadRequest},
	}
	for what, target := range targets {
		for _, field := range []string{"model_url", "dataset_url", "upload_url", "results_url", "tokens_url"} {
			req := trainRequest("0a1b2c3d", "5e6f7a8b", n.Validator.Addr())
			switch field {
			case "model_url":
				req.ModelURL = target.url
			case "dataset_url":
				req.DatasetURL = target.url
			case "results_url":
				req.ResultsURL = target.url
			case "tokens_url":
				req.TokensURL = target.url
			default:
				req.UploadURL = target.url
			}
			body, _ := json.Marshal(req)
			r := do(t, signedReq(t, vkey, m.Key().Address(), "POST", url, body))
			expect(t, what+" in "+field, r, target.status, field)
		}
	}
	unchanged(t, "SSRF attempts", before, n.dir, "validator/validator.db")
	if _, err := m.Miner().TaskStatus(context.Background(), vkey.Address(), "0a1b2c3d"); crucible.ErrorCode(err) != crucible.ENOTFOUND {
		t.Fatalf("a refused job exists: %v", err)
	}
}
