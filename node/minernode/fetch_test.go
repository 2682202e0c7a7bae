package minernode

import (
	"context"
	"net"
	"testing"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/node"
	"github.com/crucible-net/crucible/sign"
)

// The fetch policies: each address a validator could send a miner to,
// allowed or refused.
func TestFetchGuard(t *testing.T) {
	ctx := context.Background()
	local, err := chain.OpenLocal(chain.LocalOptions{Params: node.LocalChainParams(), CheckAddress: node.CheckSS58})
	if err != nil {
		t.Fatal(err)
	}
	onLAN, _ := sign.FromURI("//fetch//lan")
	noAxon, _ := sign.FromURI("//fetch//noaxon")
	metadata, _ := sign.FromURI("//fetch//metadata")
	for k, addr := range map[*sign.Keypair]string{onLAN: "10.1.2.3:8090", metadata: "169.254.169.254:80"} {
		if err := node.JoinChain(ctx, local, k, addr, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := local.Register(ctx, noAxon.Address(), noAxon.Address()); err != nil { // published no axon
		t.Fatal(err)
	}
	mg := chain.NewMetagraphCache(local, 0)
	guard := func(p string) *fetchGuard { return &fetchGuard{policy: p, mg: mg, resolver: net.DefaultResolver} }
	cases := []struct {
		policy string
		who    *sign.Keypair
		url    string
		ok     bool
	}{
		{FetchAxon, onLAN, "http://10.1.2.3:8090/v1/node/blobs/x", true},
		{FetchAxon, onLAN, "http://10.1.2.3:9999/other-port", true},
		{FetchAxon, onLAN, "http://10.1.2.4:8090/x", false},
		{FetchAxon, onLAN, "http://169.254.169.254/latest/meta-data/", false},
		{FetchAxon, onLAN, "http://127.0.0.1:8090/x", false},
		{FetchAxon, onLAN, "http://[::ffff:10.1.2.3]:8090/x", true},
		{FetchAxon, metadata, "http://169.254.169.254/latest/meta-data/", false},
		{FetchAxon, noAxon, "http://93.184.216.34/x", true},
		{FetchAxon, noAxon, "http://192.168.0.1/x", false},
		{FetchPublic, onLAN, "http://10.1.2.3:8090/x", false},
		{FetchPublic, onLAN, "http://100.64.0.1/x", false},
		{FetchPublic, onLAN, "http://[fe80::1]/x", false},
		{FetchPublic, onLAN, "http://93.184.216.34/x", true},
		{FetchAny, onLAN, "http://127.0.0.1/x", true},
	}
	for _, c := range cases {
		err := guard(c.policy).CheckURL(ctx, c.who.Address(), c.url)
		if (err == nil) != c.ok {
			t.Errorf("%s, %s: %v, want allowed=%v", c.policy, c.url, err, c.ok)
		}
		if err != nil && crucible.ErrorCode(err) != crucible.EFORBIDDEN {
			t.Errorf("%s: refusal %v is not forbidden", c.url, err)
		}
	}
	// A connection that carries no validator is refused outright.
	if _, err := guard(FetchAxon).DialContext(ctx, "tcp", "10.1.2.3:8090"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("dial without a validator: %v", err)
	}
	// Dialing checks the address it connects to (a name that resolves
	// elsewhere at dial time is caught there).
	vctx := context.WithValue(ctx, validatorKey{}, onLAN.Address())
	if _, err := guard(FetchAxon).DialContext(vctx, "tcp", "127.0.0.1:1"); crucible.ErrorCode(err) != crucible.EFORBIDDEN {
		t.Errorf("dial to another address: %v", err)
	}
}
