// Package webhook tells customers' endpoints about their tasks: each
// status change of an account's task becomes a JSON POST to each of the
// account's webhooks, signed with the webhook's secret, retried with
// exponential backoff until the endpoint answers 2xx or the attempts run
// out, every attempt recorded in the delivery log the customer reads.
//
// Signature: the header Crucible-Signature is "t=UNIX,v1=HEX", HEX being
// HMAC-SHA256(secret, "UNIX." + body); a receiver recomputes it with its
// secret, compares in constant time and refuses old timestamps (Verify).
//
// Endpoints are the customer's to name, so they are an SSRF vector: a URL
// whose host is (or resolves to) a loopback, private, link-local or
// otherwise internal address is refused, when it is registered and again at
// every connection (a name that resolves elsewhere later is caught), unless
// the operator allows private targets.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// Headers of a delivery.
const (
	SignatureHeader = "Crucible-Signature"
	EventHeader     = "Crucible-Event"
	DeliveryHeader  = "Crucible-Delivery"
)

// MaxURL is the longest webhook URL accepted.
const MaxURL = 2048

// Sign returns the signature header's value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header against body, as a receiver does: the
// HMAC must match and the timestamp be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "webhook signature header %q is malformed", header)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return crucible.Errorf(crucible.EUNAUTHORIZED, "webhook signature is %s old", d.Round(time.Second))
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return crucible.Errorf(crucible.EUNAUTHORIZED, "webhook signature does not match")
}

// Policy says which endpoints may be named.
type Policy struct {
	// AllowPrivate lets webhooks target loopback and private networks (a
	// receiver on the validator's own machine or network).
	AllowPrivate bool
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckURL validates a webhook URL: http or https, a host, no user
// information, at most MaxURL bytes, and (unless private targets are
// allowed) a host that is not, and does not resolve to, an internal
// address. Returns EINVALID naming what is wrong.
func (p Policy) CheckURL(ctx context.Context, raw string) error {
	if len(raw) > MaxURL {
		return crucible.Errorf(crucible.EINVALID, "webhook URL is longer than %d bytes", MaxURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return crucible.Errorf(crucible.EINVALID, "webhook URL %q is not an http(s) URL", raw)
	}
	if u.User != nil {
		return crucible.Errorf(crucible.EINVALID, "webhook URL must not carry a user name or password").
			WithHint("authenticate deliveries with the signature header instead")
	}
	if u.Fragment != "" {
		return crucible.Errorf(crucible.EINVALID, "webhook URL must not have a fragment")
	}
	if p.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return checkAddr(ip, raw)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return internalError(raw, host)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return crucible.Errorf(crucible.EINVALID, "webhook URL %q: host %s does not resolve", raw, host)
	}
	for _, ip := range ips {
		if err := checkAddr(ip, raw); err != nil {
			return err
		}
	}
	return nil
}

// internal reports whether ip is an address a webhook must not reach.
func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) || // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24").Contains(ip) ||
		netip.MustParsePrefix("198.18.0.0/15").Contains(ip) ||
		netip.MustParsePrefix("240.0.0.0/4").Contains(ip) ||
		netip.MustParsePrefix("64:ff9b::/96").Contains(ip)
}

func checkAddr(ip netip.Addr, raw string) error {
	if internal(ip) {
		return internalError(raw, ip.String())
	}
	return nil
}

func internalError(raw, host string) error {
	return crucible.Errorf(crucible.EINVALID, "webhook URL %q targets %s, an internal address", raw, host).
		WithHint("webhooks go to public addresses; an operator running a receiver on its own network starts the validator with --webhooks-allow-private")
}

// Client returns the HTTP client deliveries are sent with: no redirects
// followed (a redirect could lead inside), a timeout per attempt, and,
// unless private targets are allowed, a dialer that refuses internal
// addresses at connection time.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout}
	if !p.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook: dial %s: %w", address, err)
			}
			if internal(ap.Addr()) {
				return fmt.Errorf("webhook: %s is an internal address", ap.Addr())
			}
			return nil
		}
	}
	tr := &http.Transport{DialContext: d.DialContext, Proxy: nil, TLSHandshakeTimeout: timeout, ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}
