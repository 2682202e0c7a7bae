package minernode

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/protocol"
)

// Where a miner fetches from and uploads to (Config.FetchFrom). A
// validator's start_training names URLs the miner then fetches: a policy
// keeps a validator from turning the miner against its own network (SSRF).
const (
	// FetchAxon allows the address the calling validator published on the
	// chain (its axon), unless that is a link-local, multicast or
	// unspecified address (cloud metadata services live at link-local
	// ones); a validator that published none is held to FetchPublic.
	FetchAxon = "axon"
	// FetchPublic allows public addresses only: no loopback, private,
	// shared, link-local, multicast or unspecified address.
	FetchPublic = "public"
	// FetchAny allows every address (a private network behind proxies).
	FetchAny = "any"
)

// fetchGuard applies a miner's fetch policy: to the URLs of a
// start_training (CheckURL, before a job is queued) and to every
// connection the miner opens to a validator (DialContext, so that a name
// that resolves differently later, DNS rebinding, is caught too).
type fetchGuard struct {
	policy   string
	mg       *chain.MetagraphCache
	resolver *net.Resolver
	dialer   net.Dialer
}

type validatorKey struct{}

// checkIP says whether the validator with hotkey may send this miner to ip.
func (g *fetchGuard) checkIP(ctx context.Context, hotkey string, ip netip.Addr) error {
	ip = ip.Unmap()
	switch g.policy {
	case FetchAny:
		return nil
	case FetchPublic:
		return public(ip)
	}
	n, err := g.mg.Node(ctx, hotkey)
	if err != nil {
		return err
	}
	axon, err := netip.ParseAddr(n.IP)
	if err != nil || axon.Unmap().IsUnspecified() {
		return public(ip) // no usable axon: public addresses only
	}
	axon = axon.Unmap()
	if ip != axon {
		return crucible.Errorf(crucible.EFORBIDDEN, "%s is not the address validator %s published on the chain (%s)", ip, hotkey, axon).
			WithHint("a miner fetches only from the validator that sent the job (--fetch-from)")
	}
	if ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return crucible.Errorf(crucible.EFORBIDDEN, "%s is a link-local or multicast address, which a miner never fetches from", ip)
	}
	return nil
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// public refuses every address that is not a public unicast one.
func public(ip netip.Addr) error {
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsUnspecified() || cgnat.Contains(ip) ||
		(ip.Is4() && ip.As4()[0] == 0) {
		return crucible.Errorf(crucible.EFORBIDDEN, "%s is not a public address", ip).
			WithHint("a miner fetches only from public addresses unless --fetch-from says otherwise")
	}
	return nil
}

// resolve returns the addresses of host (an IP or a name).
func (g *fetchGuard) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ips, err := g.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		return nil, crucible.Errorf(crucible.EINVALID, "host %q does not resolve: %v", host, err)
	}
	return ips, nil
}

// CheckURL refuses a URL whose host resolves to an address the validator
// from may not send this miner to.
func (g *fetchGuard) CheckURL(ctx context.Context, from, raw string) error {
	if g.policy == FetchAny {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return crucible.Errorf(crucible.EINVALID, "not a URL")
	}
	ips, err := g.resolve(ctx, u.Hostname())
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if err := g.checkIP(ctx, from, ip); err != nil {
			return err
		}
	}
	return nil
}

// DialContext dials addr for the validator whose hotkey is on ctx, to an
// address the policy allows, refusing connections that carry no hotkey.
func (g *fetchGuard) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	hotkey, _ := ctx.Value(validatorKey{}).(string)
	if hotkey == "" && g.policy != FetchAny {
		return nil, crucible.Errorf(crucible.EFORBIDDEN, "connection to %s for no validator", addr)
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	var firstErr error
	for _, ip := range ips {
		if err := g.checkIP(ctx, hotkey, ip); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// transport returns an HTTP transport that dials through the guard and
// ignores proxy settings (a proxy would dial for it).
func (g *fetchGuard) transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext
	return t
}

// validators wraps a dialer so that each call carries the validator's
// hotkey to the guard's DialContext.
func (g *fetchGuard) validators(inner protocol.ValidatorDialer) protocol.ValidatorDialer {
	return func(hotkey string) protocol.Validator { return guarded{inner(hotkey), hotkey} }
}

type guarded struct {
	v      protocol.Validator
	hotkey string
}

func (g guarded) Download(ctx context.Context, link string, offset int64) (io.ReadCloser, error) {
	return g.v.Download(context.WithValue(ctx, validatorKey{}, g.hotkey), link, offset)
}

func (g guarded) Upload(ctx context.Context, uploadURL string, body io.Reader) (*api.UploadResponse, error) {
	return g.v.Upload(context.WithValue(ctx, validatorKey{}, g.hotkey), uploadURL, body)
}

func (g guarded) Enter(ctx context.Context, entryURL string, req api.EnterRequest) (*api.EntryReceipt, error) {
	return g.v.Enter(context.WithValue(ctx, validatorKey{}, g.hotkey), entryURL, req)
}

func (g guarded) Results(ctx context.Context, resultsURL string, after int64) ([]*crucible.ResultEntry, error) {
	return g.v.Results(context.WithValue(ctx, validatorKey{}, g.hotkey), resultsURL, after)
}

// checkFetchFrom validates a --fetch-from value.
func checkFetchFrom(p string) error {
	switch p {
	case FetchAxon, FetchPublic, FetchAny:
		return nil
	}
	return crucible.Errorf(crucible.EINVALID, "--fetch-from %q: want %s, %s or %s", p, FetchAxon, FetchPublic, FetchAny)
}
