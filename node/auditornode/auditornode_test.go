package auditornode_test

import (
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node/auditornode"
	"github.com/crucible-net/crucible/sign"
)

func TestValidate(t *testing.T) {
	k, _ := sign.FromURI("//auditornode-test")
	c := auditornode.DefaultConfig()
	if c.Sample != 3 || c.MinCosine != 0.98 || c.Key != "$CRUCIBLE_HOME/keys/auditor.json" {
		t.Errorf("defaults %+v", c)
	}
	for _, tc := range []struct {
		url, hotkey, want string
	}{
		{"", "", "--validator and --validator-hotkey are required"},
		{"http://127.0.0.1:8090", "", "--validator-hotkey is required"},
		{"127.0.0.1:8090", k.Address(), "is not an http(s) URL"},
		{"http://127.0.0.1:8090", "bogus", "is not an SS58 address"},
	} {
		c := auditornode.DefaultConfig()
		c.Validator, c.ValidatorHotkey = tc.url, tc.hotkey
		err := c.Validate()
		if crucible.ErrorCode(err) != crucible.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.url, tc.hotkey, err, tc.want)
		}
	}
	c.Validator, c.ValidatorHotkey = "http://127.0.0.1:8090", k.Address()
	if err := c.Validate(); err != nil {
		t.Errorf("valid settings: %v", err)
	}
}
