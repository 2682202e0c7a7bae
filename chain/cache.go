package chain

import (
	"context"
	"sync"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// MetagraphCache keeps a recent metagraph so that nodes can authorize every
// request without asking the chain each time. It is safe for concurrent use.
type MetagraphCache struct {
	c      Chain
	maxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex
	m      *Metagraph
	at     time.Time
	missAt time.Time // last refresh forced by an unknown hotkey
}

// NewMetagraphCache returns a cache of c's metagraph that refetches it when
// it is older than maxAge.
func NewMetagraphCache(c Chain, maxAge time.Duration) *MetagraphCache {
	return &MetagraphCache{c: c, maxAge: maxAge, now: time.Now}
}

// Get returns the cached metagraph, fetching it first if it is too old.
func (mc *MetagraphCache) Get(ctx context.Context) (*Metagraph, error) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.m == nil || mc.now().Sub(mc.at) > mc.maxAge {
		if err := mc.refresh(ctx); err != nil {
			return nil, err
		}
	}
	return mc.m, nil
}

// Refresh fetches the metagraph now.
func (mc *MetagraphCache) Refresh(ctx context.Context) error {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	return mc.refresh(ctx)
}

func (mc *MetagraphCache) refresh(ctx context.Context) error {
	m, err := mc.c.Metagraph(ctx)
	if err != nil {
		return err
	}
	mc.m, mc.at = m, mc.now()
	return nil
}

// Node returns the node with hotkey. A hotkey the cached metagraph does not
// know triggers a refetch (at most one a second, so that unknown callers
// cannot make the cache hammer the chain) before ENOTFOUND is returned.
func (mc *MetagraphCache) Node(ctx context.Context, hotkey string) (*crucible.Node, error) {
	m, err := mc.Get(ctx)
	if err != nil {
		return nil, err
	}
	n, err := m.Node(hotkey)
	if err == nil {
		return n, nil
	}
	return mc.recheck(ctx, hotkey)
}

// recheck refetches the metagraph, at most once a second, and returns the
// node with hotkey as it then stands.
func (mc *MetagraphCache) recheck(ctx context.Context, hotkey string) (*crucible.Node, error) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if now := mc.now(); now.Sub(mc.missAt) >= time.Second {
		mc.missAt = now
		if rerr := mc.refresh(ctx); rerr != nil {
			return nil, rerr
		}
	}
	return mc.m.Node(hotkey)
}

// Authorizer returns a function that admits a caller whose hotkey is
// registered with at least minStake TAO and, if requirePermit is set, a
// validator permit; others get EFORBIDDEN. A caller the cached metagraph
// would refuse is checked once more against a fresh one (at most one
// refetch a second, as for unknown hotkeys), so that a validator that has
// just been staked or permitted is not refused for the cache's age. It
// fits sign.Options.Authorize.
func (mc *MetagraphCache) Authorizer(minStake float64, requirePermit bool) func(ctx context.Context, hotkey string) error {
	return func(ctx context.Context, hotkey string) error {
		n, err := mc.Node(ctx, hotkey)
		if err == nil && (n.Stake < minStake || requirePermit && !n.Validator) {
			n, err = mc.recheck(ctx, hotkey)
		}
		if err != nil {
			if crucible.ErrorCode(err) == crucible.ENOTFOUND {
				return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s is not registered on the chain", hotkey)
			}
			return err
		}
		if n.Stake < minStake {
			return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s has stake %g TAO, below the minimum %g", hotkey, n.Stake, minStake)
		}
		if requirePermit && !n.Validator {
			return crucible.Errorf(crucible.EFORBIDDEN, "hotkey %s has no validator permit", hotkey)
		}
		return nil
	}
}
