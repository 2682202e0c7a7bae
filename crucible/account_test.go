package crucible_test

import (
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

func TestHashAPIKey(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, appendix B.1.
	if got := crucible.HashAPIKey("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashAPIKey(abc) = %s", got)
	}
	k := crucible.APIKey{}
	if k.Revoked() {
		t.Error("new key is revoked")
	}
	now := time.Now()
	k.RevokedAt = &now
	if !k.Revoked() {
		t.Error("revoked key is not revoked")
	}
}
