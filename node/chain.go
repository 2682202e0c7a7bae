package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/chain/subtensor"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/scoring"
	"github.com/crucible-net/crucible/sign"
)

// IsURL reports whether a --chain value names a remote chain ("crucible
// chain" over HTTP) rather than a local one.
func IsURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

// OpenChain returns the chain a node talks to: a "crucible chain" at an
// http(s) URL, whose writes are signed with keys, or a local chain kept in
// a state file (embedded in this process; right for a one-validator
// network), which is also returned as a *chain.Local.
func OpenChain(spec string, keys ...*sign.Keypair) (chain.Chain, *chain.Local, error) {
	if IsURL(spec) {
		return NewChainClient(spec, keys...), nil, nil
	}
	l, err := chain.OpenLocal(chain.LocalOptions{Path: spec, Params: LocalChainParams(), CheckAddress: CheckSS58})
	if err != nil {
		return nil, nil, err
	}
	return l, l, nil
}

// IsSubtensor reports whether a --chain value names a Subtensor node
// (Bittensor's chain): subtensor://HOST:PORT, subtensor+tls://HOST:PORT,
// ws:// or wss://.
func IsSubtensor(s string) bool { return subtensor.IsSubtensorURL(s) }

// OpenSubtensor connects to the Subtensor node named by spec, for subnet
// netuid, signing with key. Unrevealed weight commits (subnets with
// commit-reveal) are kept in commitsFile ("" keeps them in memory). The
// hotkey must be registered already (btcli subnets register): nodes do not
// burn TAO on their own.
func OpenSubtensor(ctx context.Context, spec string, netuid int, commitsFile string, key *sign.Keypair) (*subtensor.Client, error) {
	if netuid <= 0 || netuid > 65535 {
		return nil, crucible.Errorf(crucible.EINVALID, "--chain %s needs --netuid, the subnet crucible runs on, in 1..65535 (got %d)", spec, netuid).
			WithHint("e.g. --netuid 56; btcli subnets list shows the subnets")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return subtensor.Open(ctx, subtensor.Options{URL: spec, NetUID: uint16(netuid), Keys: []subtensor.Signer{subtensor.Sr25519(key)}, CommitsFile: commitsFile})
}

// EmbeddedChain opens a local chain whose state lives in a validator's
// store.
func EmbeddedChain(store chain.StateStore) (*chain.Local, error) {
	return chain.OpenLocal(chain.LocalOptions{Store: store, Params: LocalChainParams(), CheckAddress: CheckSS58})
}

// LocalChainParams are the hyperparameters of a chain embedded in a node:
// Subtensor's defaults with epochs every 10 blocks, weights at most every 5
// blocks, no serving rate limit, and a single weight allowed (a small local
// network may have a single winner).
func LocalChainParams() chain.Hyperparams {
	p := chain.DefaultHyperparams()
	p.ServingRateLimit = 0
	p.WeightsRateLimit = 5
	p.Tempo = 10
	p.MinAllowedWeights = 1
	return p
}

// joinTries and joinWait bound how long JoinChain waits for a chain that
// does not answer (one restarting, say): about a minute.
var (
	joinTries = 30
	joinWait  = 2 * time.Second
)

// JoinChainPatiently is JoinChain for a daemon that starts: a chain that
// cannot be reached (it may be restarting) is tried again for about a
// minute, each failure logged; a refusal is returned at once.
func JoinChainPatiently(ctx context.Context, c chain.Chain, k *sign.Keypair, addr string, stake float64, log *slog.Logger) error {
	var err error
	for try := 1; ; try++ {
		err = JoinChain(ctx, c, k, addr, stake)
		if err == nil || crucible.ErrorCode(err) != crucible.EINTERNAL || try >= joinTries || ctx.Err() != nil {
			return err
		}
		log.Warn("cannot reach the chain; trying again", "try", try, "of", joinTries, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(joinWait):
		}
	}
}

// JoinChain registers the key's hotkey on the chain (unless it is already),
// publishes the address it serves on, and on a local chain gives it stake.
// On Subtensor the hotkey must be registered already and stake comes from
// its coldkey (btcli), so neither is done here.
func JoinChain(ctx context.Context, c chain.Chain, k *sign.Keypair, addr string, stake float64) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	port, _ := strconv.Atoi(portStr)
	if _, err := c.Register(ctx, k.Address(), k.Address()); err != nil && crucible.ErrorCode(err) != crucible.ECONFLICT {
		return fmt.Errorf("register %s: %w", k.Address(), err)
	}
	if err := c.ServeAxon(ctx, k.Address(), host, port); err != nil {
		return fmt.Errorf("serve axon %s at %s: %w", k.Address(), addr, err)
	}
	if _, real := c.(*subtensor.Client); stake > 0 && !real {
		if err := c.AddStake(ctx, k.Address(), stake); err != nil {
			return fmt.Errorf("add stake: %w", err)
		}
	}
	return nil
}

// CheckSS58 accepts Bittensor (prefix 42) SS58 addresses.
func CheckSS58(addr string) error {
	_, err := sign.PublicKey(addr)
	return err
}

// ChainSigner returns a chain.SignFunc that signs writes with whichever of
// keys has the hotkey a write acts for.
func ChainSigner(keys ...*sign.Keypair) chain.SignFunc {
	return func(req *http.Request, hotkey string) error {
		for _, k := range keys {
			if k.Address() == hotkey {
				return sign.SignRequest(req, k, chain.Audience, time.Now())
			}
		}
		return crucible.Errorf(crucible.EUNAUTHORIZED, "no key for %s to sign a chain write with", hotkey)
	}
}

// NewChainClient returns a client of the "crucible chain" at url whose
// writes are signed with keys.
func NewChainClient(url string, keys ...*sign.Keypair) *chain.Client {
	return chain.NewClient(url, ChainSigner(keys...), &http.Client{Timeout: 30 * time.Second})
}

// ChainWeights sets a node's weights on a chain: hotkeys become uids
// through the metagraph, the vector is capped by the subnet's max weight
// limit and quantized to u16 the way Bittensor's SDK does. It is the
// validator's and the auditor's weight setter.
type ChainWeights struct {
	Chain  chain.Chain
	Hotkey string // the setter's own hotkey
}

// SetWeights sets weights and returns the block they were set at.
func (c ChainWeights) SetWeights(ctx context.Context, weights []scoring.Weight) (int64, error) {
	mg, err := c.Chain.Metagraph(ctx)
	if err != nil {
		return 0, err
	}
	uidOf := map[string]uint16{}
	for _, n := range mg.Neurons {
		uidOf[n.Hotkey] = uint16(n.UID)
	}
	var uids []uint16
	var vals []float64
	for _, w := range weights {
		if uid, ok := uidOf[w.Hotkey]; ok {
			uids = append(uids, uid)
			vals = append(vals, w.Weight)
		}
	}
	if len(uids) == 0 {
		return 0, crucible.Errorf(crucible.EINVALID, "none of the %d weighted miners is registered on the chain", len(weights))
	}
	limit := float64(mg.Hyperparams.MaxWeightsLimit) / 65535
	if limit > 0 && limit < 1 {
		vals = chain.NormalizeMaxWeight(vals, limit)
	}
	u, w, err := chain.ConvertWeights(uids, vals)
	if err != nil {
		return 0, err
	}
	if err := c.Chain.SetWeights(ctx, c.Hotkey, u, w, mg.Hyperparams.WeightsVersionKey); err != nil {
		return 0, fmt.Errorf("set weights: %w", err)
	}
	return c.Chain.CurrentBlock(ctx)
}

// WeightsOnChain returns the weights hotkey has set on the chain, by miner
// hotkey, normalized to sum 1. Returns ENOTFOUND for a hotkey that is not
// registered.
func WeightsOnChain(ctx context.Context, c chain.Chain, hotkey string) (map[string]float64, error) {
	mg, err := c.Metagraph(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, n := range mg.Neurons {
		if n.Hotkey != hotkey {
			continue
		}
		total := 0.0
		for _, w := range n.Weights {
			total += float64(w.Value)
		}
		for _, w := range n.Weights {
			if int(w.UID) < len(mg.Neurons) && total > 0 {
				out[mg.Neurons[w.UID].Hotkey] = float64(w.Value) / total
			}
		}
		return out, nil
	}
	return nil, crucible.Errorf(crucible.ENOTFOUND, "%s is not registered on the chain", hotkey)
}
