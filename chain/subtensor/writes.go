package subtensor

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"net/netip"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
)

// axonProtocol is the protocol number published with serve_axon (the
// Bittensor SDK's default, 4).
const axonProtocol = 4

// uidOf returns the uid of hotkey on the subnet at block, and whether it is
// registered.
func (c *Client) uidOf(ctx context.Context, rt *runtimeInfo, block string, hotkey [32]byte) (int, bool, error) {
	v, err := c.queryStorage(ctx, rt, block, []storageQuery{{"SubtensorModule", "Uids", []any{c.opts.NetUID, hotkey}}})
	if err != nil {
		return 0, false, err
	}
	if v[0] == nil {
		return 0, false, nil
	}
	uid, err := asUint(v[0])
	if err != nil {
		return 0, false, crucible.Errorf(crucible.EINTERNAL, "subtensor: Uids: %v", err)
	}
	return int(uid), true, nil
}

// SetWeights sets hotkey's weights, or commits them when the subnet has
// commit-reveal on (revealing earlier commits that are due). It checks the
// version key and, without commit-reveal, the rate limit before paying for
// an extrinsic the chain would refuse.
func (c *Client) SetWeights(ctx context.Context, hotkey string, uids, weights []uint16, versionKey uint64) error {
	if len(uids) != len(weights) {
		return chain.ErrWeightVecNotEqualSize
	}
	s, pub, err := c.signer(hotkey, "hotkey")
	if err != nil {
		return err
	}
	rt, err := c.runtime(ctx)
	if err != nil {
		return err
	}
	hash, block, err := c.head(ctx)
	if err != nil {
		return err
	}
	p, err := c.paramsAt(ctx, rt, hash)
	if err != nil {
		return err
	}
	if p.WeightsVersionKey != 0 && versionKey < p.WeightsVersionKey {
		return &chain.Error{Name: chain.ErrIncorrectWeightVersionKey.Name, Code: chain.ErrIncorrectWeightVersionKey.Code,
			Message: fmt.Sprintf("version key %d is below the subnet's %d", versionKey, p.WeightsVersionKey)}
	}
	uid, ok, err := c.uidOf(ctx, rt, hash, pub)
	if err != nil {
		return err
	}
	if !ok {
		return &chain.Error{Name: chain.ErrHotKeyNotRegistered.Name, Code: chain.ErrHotKeyNotRegistered.Code,
			Message: fmt.Sprintf("%s is not registered on netuid %d", hotkey, c.opts.NetUID)}
	}
	if p.CommitReveal {
		return c.commitWeights(ctx, rt, s, pub, block, p, uids, weights, versionKey)
	}
	v, err := c.queryStorage(ctx, rt, hash, []storageQuery{{"SubtensorModule", "LastUpdate", []any{c.opts.NetUID}}})
	if err != nil {
		return err
	}
	if last, ok := v[0].([]any); ok && uid < len(last) {
		lu, _ := asUint(last[uid])
		if lu != 0 && block-int64(lu) < p.WeightsRateLimit {
			return &chain.Error{Name: chain.ErrSettingWeightsTooFast.Name, Code: chain.ErrSettingWeightsTooFast.Code,
				Message: fmt.Sprintf("uid %d set weights at block %d; the rate limit of %d blocks allows the next at %d (now %d)", uid, lu, p.WeightsRateLimit, int64(lu)+p.WeightsRateLimit, block)}
		}
	}
	call, err := encodeCall(rt.md, "SubtensorModule", "set_weights", map[string]any{
		"netuid": c.opts.NetUID, "dests": uids, "weights": weights, "version_key": versionKey})
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	_, err = c.submit(ctx, rt, s, call, "set_weights")
	return err
}

// ServeAxon publishes the address hotkey's node listens on.
func (c *Client) ServeAxon(ctx context.Context, hotkey, ip string, port int) error {
	s, _, err := c.signer(hotkey, "hotkey")
	if err != nil {
		return err
	}
	ipNum, ipType, err := axonIP(ip)
	if err != nil {
		return err
	}
	if port < 1 || port > math.MaxUint16 {
		return &chain.Error{Name: chain.ErrInvalidPort.Name, Code: chain.ErrInvalidPort.Code, Message: fmt.Sprintf("port %d is not in 1..65535", port)}
	}
	rt, err := c.runtime(ctx)
	if err != nil {
		return err
	}
	call, err := encodeCall(rt.md, "SubtensorModule", "serve_axon", map[string]any{
		"netuid": c.opts.NetUID, "version": c.opts.AxonVersion, "ip": ipNum, "port": uint16(port), "ip_type": ipType,
		"protocol": uint8(axonProtocol), "placeholder1": uint8(0), "placeholder2": uint8(0)})
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	_, err = c.submit(ctx, rt, s, call, "serve_axon")
	return err
}

// axonIP encodes an IP address as the chain stores it: a u128 and its type
// (4 or 6). The chain refuses unspecified, loopback and (for IPv4)
// broadcast addresses; so does this.
func axonIP(ip string) (*big.Int, uint8, error) {
	a, err := netip.ParseAddr(ip)
	bad := func(why string) error {
		return &chain.Error{Name: chain.ErrInvalidIPAddress.Name, Code: chain.ErrInvalidIPAddress.Code, Message: fmt.Sprintf("%q %s", ip, why)}
	}
	if err != nil {
		return nil, 0, bad("is not an IP address (publish the address miners and validators reach, not a host name)")
	}
	if a.IsUnspecified() || a.IsLoopback() {
		return nil, 0, bad("is not reachable from other machines")
	}
	if a.Is4() || a.Is4In6() {
		b := a.Unmap().As4()
		if b == [4]byte{255, 255, 255, 255} {
			return nil, 0, bad("is the broadcast address")
		}
		return new(big.Int).SetBytes(b[:]), 4, nil
	}
	b := a.As16()
	return new(big.Int).SetBytes(b[:]), 6, nil
}

// Register registers hotkey on the subnet by burning the registration cost
// from coldkey (burned_register), when Options.BurnRegister allows it and
// the coldkey's key is among the client's keys; otherwise an unregistered
// hotkey is ENOTFOUND with a hint to register with btcli. ECONFLICT
// (ErrHotKeyAlreadyRegistered, with the uid) if the hotkey is registered
// already, which is what a node starting on a subnet expects.
func (c *Client) Register(ctx context.Context, hotkey, coldkey string) (int, error) {
	pub, err := accountID(hotkey)
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINVALID, "hotkey")
	}
	rt, err := c.runtime(ctx)
	if err != nil {
		return 0, err
	}
	hash, _, err := c.head(ctx)
	if err != nil {
		return 0, err
	}
	if uid, ok, err := c.uidOf(ctx, rt, hash, pub); err != nil {
		return 0, err
	} else if ok {
		return uid, &chain.Error{Name: chain.ErrHotKeyAlreadyRegistered.Name, Code: chain.ErrHotKeyAlreadyRegistered.Code,
			Message: fmt.Sprintf("%s is uid %d on netuid %d", hotkey, uid, c.opts.NetUID)}
	}
	hint := fmt.Sprintf("register it with: btcli subnets register --netuid %d --wallet.name COLDKEY --wallet.hotkey HOTKEY", c.opts.NetUID)
	if !c.opts.BurnRegister {
		return 0, crucible.Errorf(crucible.ENOTFOUND, "hotkey %s is not registered on netuid %d", hotkey, c.opts.NetUID).WithHint(hint)
	}
	s, _, err := c.signer(coldkey, "coldkey")
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EUNAUTHORIZED, "register %s on netuid %d", hotkey, c.opts.NetUID).WithHint(hint)
	}
	call, err := encodeCall(rt.md, "SubtensorModule", "burned_register", map[string]any{"netuid": c.opts.NetUID, "hotkey": pub})
	if err != nil {
		return 0, crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	inc, err := c.submit(ctx, rt, s, call, "burned_register")
	if err != nil {
		return 0, err
	}
	uid, ok, err := c.uidOf(ctx, rt, inc.BlockHash, pub)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, crucible.Errorf(crucible.EINTERNAL, "subtensor: burned_register succeeded but %s has no uid in block %s", hotkey, inc.BlockHash)
	}
	return uid, nil
}

// AddStake stakes amount TAO from hotkey's coldkey onto hotkey on the
// subnet. The coldkey (the hotkey's owner on chain) must be among the
// client's keys.
func (c *Client) AddStake(ctx context.Context, hotkey string, amount float64) error {
	if !(amount > 0) || math.IsInf(amount, 0) || amount*raoPerTAO > math.MaxUint64 {
		return &chain.Error{Name: chain.ErrAmountTooLow.Name, Code: chain.ErrAmountTooLow.Code, Message: fmt.Sprintf("stake amount %v TAO", amount)}
	}
	pub, err := accountID(hotkey)
	if err != nil {
		return crucible.Wrap(err, crucible.EINVALID, "hotkey")
	}
	rt, err := c.runtime(ctx)
	if err != nil {
		return err
	}
	hash, _, err := c.head(ctx)
	if err != nil {
		return err
	}
	v, err := c.queryStorage(ctx, rt, hash, []storageQuery{{"SubtensorModule", "Owner", []any{pub}}})
	if err != nil {
		return err
	}
	owner, err := asAccount(v[0])
	if err != nil {
		return crucible.Errorf(crucible.EINTERNAL, "subtensor: Owner of %s: %v", hotkey, err)
	}
	if owner == ([32]byte{}) {
		return &chain.Error{Name: chain.ErrHotKeyNotRegistered.Name, Code: chain.ErrHotKeyNotRegistered.Code, Message: hotkey + " has no owner on chain"}
	}
	s, _, err := c.signer(address(owner), "coldkey")
	if err != nil {
		return crucible.Wrap(err, crucible.EUNAUTHORIZED, "add stake to %s", hotkey).
			WithHint(fmt.Sprintf("stake with: btcli stake add --netuid %d --wallet.name COLDKEY --wallet.hotkey HOTKEY", c.opts.NetUID))
	}
	call, err := encodeCall(rt.md, "SubtensorModule", "add_stake", map[string]any{
		"hotkey": pub, "netuid": c.opts.NetUID, "amount_staked": uint64(math.Round(amount * raoPerTAO))})
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	_, err = c.submit(ctx, rt, s, call, "add_stake")
	return err
}

// splitHostPort splits "IP:PORT".
func splitHostPort(addr string) (string, int, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: want IP:PORT: %w", addr, err)
	}
	return ap.Addr().String(), int(ap.Port()), nil
}
