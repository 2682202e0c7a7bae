package subtensor

import (
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"
)

// Options configure a Client.
type Options struct {
	// URL is the node's JSON-RPC endpoint: ws://, wss://, http:// or
	// https://, or subtensor://HOST:PORT (WebSocket) and
	// subtensor+tls://HOST:PORT (secure WebSocket). Writes need a WebSocket
	// or poll for the outcome over HTTP.
	URL string
	// NetUID is the subnet crucible runs on.
	NetUID uint16
	// Keys sign extrinsics: a hotkey signs set_weights, commit/reveal and
	// serve_axon; its coldkey signs burned_register and add_stake.
	Keys []Signer
	// EraPeriod is the number of blocks an extrinsic stays valid. Defaults
	// to 64.
	EraPeriod uint64
	// Tip (rao) is added to every extrinsic's fee. Defaults to 0.
	Tip uint64
	// Finalized makes writes wait for finality instead of inclusion in a
	// block. Defaults to false (inclusion).
	Finalized bool
	// Timeout bounds one write from submission to inclusion. Defaults to
	// 2 minutes (10 blocks of 12 s).
	Timeout time.Duration
	// CommitsFile keeps weight commits that are not revealed yet, so a
	// restarted validator still reveals them. Empty keeps them in memory.
	CommitsFile string
	// BurnRegister lets Register burn the registration cost from the
	// coldkey (burned_register) when the hotkey is not registered. Defaults
	// to false: Register then only reports whether the hotkey is registered,
	// and an operator registers with btcli.
	BurnRegister bool
	// AxonVersion is the version published with serve_axon. Defaults to 1.
	AxonVersion uint32
	// Log receives progress (submissions, inclusions, reveals). Defaults to
	// slog.Default().
	Log *slog.Logger
}

func (o *Options) setDefaults() {
	if o.EraPeriod == 0 {
		o.EraPeriod = 64
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.AxonVersion == 0 {
		o.AxonVersion = 1
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
}

// NodeURL turns a --chain value into the node's JSON-RPC URL:
// subtensor://HOST:PORT becomes ws://HOST:PORT and subtensor+tls://HOST:PORT
// becomes wss://HOST:PORT; ws(s):// and http(s):// URLs are kept as they
// are.
func NodeURL(spec string) (string, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return "", fmt.Errorf("chain %q: %w", spec, err)
	}
	switch u.Scheme {
	case "subtensor":
		u.Scheme = "ws"
	case "subtensor+tls":
		u.Scheme = "wss"
	case "ws", "wss", "http", "https":
	default:
		return "", fmt.Errorf("chain %q: want subtensor://HOST:PORT, subtensor+tls://HOST:PORT or a ws://, wss://, http:// or https:// URL", spec)
	}
	if u.Host == "" {
		return "", fmt.Errorf("chain %q: no host; e.g. subtensor://127.0.0.1:9944", spec)
	}
	if _, port, err := net.SplitHostPort(u.Host); err != nil || port == "" {
		if u.Scheme == "ws" || u.Scheme == "http" {
			return "", fmt.Errorf("chain %q: no port; a local subtensor node listens on 9944 (subtensor://127.0.0.1:9944)", spec)
		}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// IsSubtensorURL reports whether a --chain value names a Subtensor node
// (subtensor://, subtensor+tls://, ws:// or wss://).
func IsSubtensorURL(spec string) bool {
	for _, p := range []string{"subtensor://", "subtensor+tls://", "ws://", "wss://"} {
		if strings.HasPrefix(spec, p) {
			return true
		}
	}
	return false
}
