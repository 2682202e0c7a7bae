package node

import (
	"context"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/sign"
)

func TestIsSubtensor(t *testing.T) {
	for s, want := range map[string]bool{
		"subtensor://127.0.0.1:9944": true, "subtensor+tls://entrypoint-finney.opentensor.ai:443": true,
		"ws://127.0.0.1:9944": true, "http://127.0.0.1:9944": false, "embedded": false, "chain.json": false,
	} {
		if IsSubtensor(s) != want {
			t.Errorf("IsSubtensor(%q) = %v", s, !want)
		}
	}
}

// A Subtensor chain without a valid --netuid is refused before any
// connection, with a hint.
func TestOpenSubtensorNeedsNetUID(t *testing.T) {
	k, _ := sign.FromURI("//Alice")
	for _, netuid := range []int{0, -1, 65536} {
		_, err := OpenSubtensor(context.Background(), "subtensor://127.0.0.1:1", netuid, "", k)
		if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), "--netuid") {
			t.Errorf("netuid %d: %v", netuid, err)
		}
	}
	// A node that is not there: the error names it and hints at a local one.
	_, err := OpenSubtensor(context.Background(), "subtensor://127.0.0.1:1", 1, "", k)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "subtensor-localnet") {
		t.Errorf("err %v", err)
	}
}
