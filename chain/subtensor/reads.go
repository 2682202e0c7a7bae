package subtensor

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/crucible-net/crucible/chain"
	"github.com/crucible-net/crucible/crucible"
)

// raoPerTAO is the number of rao in one TAO (and of alpha units in one
// alpha).
const raoPerTAO = 1e9

type header struct {
	Number string `json:"number"`
}

// head returns the hash and number of the node's best block, which every
// read of one call is pinned to (so a metagraph is one consistent state).
func (c *Client) head(ctx context.Context) (string, int64, error) {
	var hash string
	if err := c.call(ctx, &hash, "chain_getHead"); err != nil {
		return "", 0, c.nodeErr(err, "read the best block")
	}
	var h header
	if err := c.call(ctx, &h, "chain_getHeader", hash); err != nil {
		return "", 0, c.nodeErr(err, "read block "+hash)
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(h.Number, "0x"), 16, 64)
	if err != nil {
		return "", 0, crucible.Errorf(crucible.EINTERNAL, "subtensor: block number %q of %s is not hex", h.Number, hash)
	}
	return hash, n, nil
}

// CurrentBlock returns the number of the node's best block.
func (c *Client) CurrentBlock(ctx context.Context) (int64, error) {
	_, n, err := c.head(ctx)
	return n, err
}

// stateCall calls runtime API api.method at block with args (encoded with
// the API's input types from the metadata) and decodes the result with its
// output type.
func (c *Client) stateCall(ctx context.Context, rt *runtimeInfo, block, api, method string, args ...any) (any, error) {
	m, err := rt.md.API(api, method)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
	}
	if len(args) != len(m.Inputs) {
		return nil, crucible.Errorf(crucible.EINTERNAL, "subtensor: %s_%s takes %d arguments in runtime %d, not %d", api, method, len(m.Inputs), rt.specVersion, len(args))
	}
	var in []byte
	for i, a := range args {
		if in, err = rt.md.Types.Encode(in, m.Inputs[i].Type, a); err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s_%s argument %s", api, method, m.Inputs[i].Name)
		}
	}
	var res string
	if err := c.call(ctx, &res, "state_call", api+"_"+method, hexOf(in), block); err != nil {
		return nil, c.nodeErr(err, api+"_"+method)
	}
	raw, err := decodeHex(res)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s_%s result", api, method)
	}
	v, err := rt.md.Types.DecodeAll(m.Output, raw)
	if err != nil {
		return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: decode %s_%s result (runtime %d)", api, method, rt.specVersion)
	}
	return v, nil
}

// storageQuery is one storage item to read.
type storageQuery struct {
	pallet, item string
	keys         []any
}

// queryStorage reads several storage items at block in one request and
// returns their decoded values (the item's default where it is absent,
// nil for an absent optional item).
func (c *Client) queryStorage(ctx context.Context, rt *runtimeInfo, block string, qs []storageQuery) ([]any, error) {
	keys := make([]string, len(qs))
	for i, q := range qs {
		k, err := rt.md.StorageKey(q.pallet, q.item, q.keys...)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
		}
		keys[i] = hexOf(k)
	}
	var sets []struct {
		Changes [][2]*string `json:"changes"`
	}
	if err := c.call(ctx, &sets, "state_queryStorageAt", keys, block); err != nil {
		return nil, c.nodeErr(err, "read storage")
	}
	found := map[string]*string{}
	for _, s := range sets {
		for _, ch := range s.Changes {
			if ch[0] != nil {
				found[strings.ToLower(*ch[0])] = ch[1]
			}
		}
	}
	out := make([]any, len(qs))
	for i, q := range qs {
		var raw []byte
		if v := found[strings.ToLower(keys[i])]; v != nil {
			b, err := decodeHex(*v)
			if err != nil {
				return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: %s.%s", q.pallet, q.item)
			}
			raw = b
		}
		v, err := rt.md.DecodeStorage(q.pallet, q.item, raw)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor")
		}
		out[i] = v
	}
	return out, nil
}

func (c *Client) subnetExists(ctx context.Context) (bool, error) {
	rt, err := c.runtime(ctx)
	if err != nil {
		return false, err
	}
	hash, _, err := c.head(ctx)
	if err != nil {
		return false, err
	}
	v, err := c.queryStorage(ctx, rt, hash, []storageQuery{{"SubtensorModule", "NetworksAdded", []any{c.opts.NetUID}}})
	if err != nil {
		return false, err
	}
	ok, _ := v[0].(bool)
	return ok, nil
}

// Metagraph returns the subnet's neurons (NeuronInfoRuntimeApi
// get_neurons_lite) and hyperparameters at the best block.
func (c *Client) Metagraph(ctx context.Context) (*chain.Metagraph, error) {
	rt, err := c.runtime(ctx)
	if err != nil {
		return nil, err
	}
	hash, number, err := c.head(ctx)
	if err != nil {
		return nil, err
	}
	return c.metagraphAt(ctx, rt, hash, number)
}

func (c *Client) metagraphAt(ctx context.Context, rt *runtimeInfo, hash string, number int64) (*chain.Metagraph, error) {
	v, err := c.stateCall(ctx, rt, hash, "NeuronInfoRuntimeApi", "get_neurons_lite", c.opts.NetUID)
	if err != nil {
		return nil, err
	}
	list, ok := v.([]any)
	if !ok {
		return nil, crucible.Errorf(crucible.EINTERNAL, "subtensor: get_neurons_lite returned %T, not a list", v)
	}
	p, err := c.paramsAt(ctx, rt, hash)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	mg := &chain.Metagraph{Block: number, LastEpochBlock: p.LastStepBlock, Hyperparams: p.Hyperparams, Neurons: make([]chain.Neuron, 0, len(list))}
	for i, item := range list {
		n, err := neuronFromLite(item)
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "subtensor: neuron %d of netuid %d", i, c.opts.NetUID)
		}
		n.UpdatedAt = now
		mg.Neurons = append(mg.Neurons, n)
	}
	for i := range mg.Neurons {
		if mg.Neurons[i].UID != i {
			return nil, crucible.Errorf(crucible.EINTERNAL, "subtensor: neuron at position %d has uid %d; want neurons ordered by uid", i, mg.Neurons[i].UID)
		}
	}
	if err := c.fillWeights(ctx, rt, hash, mg); err != nil {
		return nil, err
	}
	return mg, nil
}

// fillWeights reads the weight rows of the neurons with a validator permit
// (the others' weights do not count), in one storage query.
func (c *Client) fillWeights(ctx context.Context, rt *runtimeInfo, block string, mg *chain.Metagraph) error {
	var qs []storageQuery
	var who []int
	for i, n := range mg.Neurons {
		if n.Validator {
			qs = append(qs, storageQuery{"SubtensorModule", "Weights", []any{c.opts.NetUID, n.UID}})
			who = append(who, i)
		}
	}
	if len(qs) == 0 {
		return nil
	}
	vals, err := c.queryStorage(ctx, rt, block, qs)
	if err != nil {
		return err
	}
	for j, v := range vals {
		row, err := weightRow(v)
		if err != nil {
			return crucible.Errorf(crucible.EINTERNAL, "subtensor: weights of uid %d: %v", mg.Neurons[who[j]].UID, err)
		}
		mg.Neurons[who[j]].Weights = row
	}
	return nil
}

// weightRow reads a Vec<(u16, u16)> weight row.
func weightRow(v any) ([]chain.UIDWeight, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %T", v)
	}
	out := make([]chain.UIDWeight, 0, len(list))
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("want (uid, weight), got %T", e)
		}
		uid, err1 := asUint(pair[0])
		w, err2 := asUint(pair[1])
		if err1 != nil || err2 != nil || uid > math.MaxUint16 || w > math.MaxUint16 {
			return nil, fmt.Errorf("bad entry %v", pair)
		}
		out = append(out, chain.UIDWeight{UID: uint16(uid), Value: uint16(w)})
	}
	return out, nil
}

// neuronFromLite maps a decoded NeuronInfoLite onto a chain.Neuron.
func neuronFromLite(v any) (chain.Neuron, error) {
	var n chain.Neuron
	hk, err := field(v, "hotkey")
	if err != nil {
		return n, err
	}
	hot, err := asAccount(hk)
	if err != nil {
		return n, fmt.Errorf("hotkey: %w", err)
	}
	ck, err := field(v, "coldkey")
	if err != nil {
		return n, err
	}
	cold, err := asAccount(ck)
	if err != nil {
		return n, fmt.Errorf("coldkey: %w", err)
	}
	n.Hotkey, n.Coldkey = address(hot), address(cold)
	var uid, incentive, consensus, trust, vtrust, dividends, lastUpdate uint64
	for name, p := range map[string]*uint64{"uid": &uid, "incentive": &incentive, "consensus": &consensus, "trust": &trust,
		"validator_trust": &vtrust, "dividends": &dividends, "last_update": &lastUpdate} {
		if *p, err = uintField(v, name); err != nil {
			return n, err
		}
	}
	if uid > math.MaxUint16 {
		return n, fmt.Errorf("uid %d out of range", uid)
	}
	n.UID = int(uid)
	n.Incentive, n.Consensus, n.Trust = float64(incentive)/65535, float64(consensus)/65535, float64(trust)/65535
	n.VTrust, n.Dividends = float64(vtrust)/65535, float64(dividends)/65535
	n.LastUpdate = int64(lastUpdate)
	em, err := field(v, "emission")
	if err != nil {
		return n, err
	}
	if e, err := asBig(em); err == nil {
		n.Emission = raoToTAO(e)
	} else {
		return n, fmt.Errorf("emission: %w", err)
	}
	for name, p := range map[string]*bool{"active": &n.Active, "validator_permit": &n.Validator} {
		x, err := field(v, name)
		if err != nil {
			return n, err
		}
		if *p, err = asBool(x); err != nil {
			return n, fmt.Errorf("%s: %w", name, err)
		}
	}
	st, err := field(v, "stake")
	if err != nil {
		return n, err
	}
	stake, err := sumStake(st)
	if err != nil {
		return n, err
	}
	n.Stake = raoToTAO(stake)
	axon, err := field(v, "axon_info")
	if err != nil {
		return n, err
	}
	if n.IP, n.Port, n.AxonBlock, err = axonAddr(axon); err != nil {
		return n, fmt.Errorf("axon_info: %w", err)
	}
	return n, nil
}

// sumStake adds up a Vec<(AccountId, Compact<Alpha>)>.
func sumStake(v any) (*big.Int, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("stake: want a list, got %T", v)
	}
	total := new(big.Int)
	for _, e := range list {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("stake entry: want (account, amount), got %T", e)
		}
		amt, err := asBig(pair[1])
		if err != nil {
			return nil, fmt.Errorf("stake amount: %w", err)
		}
		total.Add(total, amt)
	}
	return total, nil
}

func raoToTAO(v *big.Int) float64 {
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(v), big.NewFloat(raoPerTAO)).Float64()
	return f
}

// axonAddr reads an AxonInfo: the IP is a u128 (IPv4 in its low 32 bits
// when ip_type is 4), 0 meaning no address published.
func axonAddr(v any) (ip string, port int, block int64, err error) {
	ipv, err := field(v, "ip")
	if err != nil {
		return "", 0, 0, err
	}
	n, err := asBig(ipv)
	if err != nil {
		return "", 0, 0, fmt.Errorf("ip: %w", err)
	}
	p, err := uintField(v, "port")
	if err != nil {
		return "", 0, 0, err
	}
	t, err := uintField(v, "ip_type")
	if err != nil {
		return "", 0, 0, err
	}
	b, err := uintField(v, "block")
	if err != nil {
		return "", 0, 0, err
	}
	if n.Sign() == 0 {
		return "", int(p), int64(b), nil
	}
	var raw [16]byte
	n.FillBytes(raw[:])
	switch t {
	case 4:
		if n.BitLen() > 32 {
			return "", 0, 0, fmt.Errorf("IPv4 address %s exceeds 32 bits", n)
		}
		return netip.AddrFrom4([4]byte(raw[12:])).String(), int(p), int64(b), nil
	case 6:
		return netip.AddrFrom16(raw).String(), int(p), int64(b), nil
	}
	return "", 0, 0, fmt.Errorf("ip_type %d is neither 4 nor 6", t)
}

// SubnetParams are the subnet's hyperparameters with the commit-reveal
// settings that chain.Hyperparams does not carry.
type SubnetParams struct {
	chain.Hyperparams
	// CommitReveal: weights must be committed and revealed, not set.
	CommitReveal bool `json:"commit_reveal_weights_enabled"`
	// RevealPeriodEpochs: a commit is revealed this many epochs later.
	RevealPeriodEpochs uint64 `json:"reveal_period_epochs"`
	// CommitRevealVersion is the chain's commit-reveal version (4 is the
	// timelocked one).
	CommitRevealVersion uint64 `json:"commit_reveal_version"`
	// LastStepBlock is the block of the subnet's last epoch.
	LastStepBlock int64 `json:"last_step_block"`
}

// Hyperparams returns the subnet's parameters at the best block.
func (c *Client) Hyperparams(ctx context.Context) (chain.Hyperparams, error) {
	p, err := c.SubnetParams(ctx)
	return p.Hyperparams, err
}

// SubnetParams returns the subnet's parameters, commit-reveal included, at
// the best block.
func (c *Client) SubnetParams(ctx context.Context) (SubnetParams, error) {
	rt, err := c.runtime(ctx)
	if err != nil {
		return SubnetParams{}, err
	}
	hash, _, err := c.head(ctx)
	if err != nil {
		return SubnetParams{}, err
	}
	return c.paramsAt(ctx, rt, hash)
}

// paramSpec maps one storage item onto SubnetParams.
type paramSpec struct {
	item   string
	global bool // a plain value rather than a map keyed by netuid
	set    func(p *SubnetParams, v any) error
}

func setInt(dst *int64) func(*SubnetParams, any) error {
	return func(_ *SubnetParams, v any) error { n, err := asUint(v); *dst = int64(n); return err }
}

var paramSpecs = []paramSpec{
	{"Tempo", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.Tempo = int64(n) }) }},
	{"Kappa", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.Kappa = float64(n) / 65535 }) }},
	{"BondsMovingAverage", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.BondsMovingAverage = n }) }},
	{"BondsPenalty", false, func(p *SubnetParams, v any) error {
		return setU(v, func(n uint64) { p.BondsPenalty = float64(n) / 65535 })
	}},
	{"Yuma3On", false, func(p *SubnetParams, v any) error { b, err := asBool(v); p.Yuma3 = b; return err }},
	{"LiquidAlphaOn", false, func(p *SubnetParams, v any) error { b, err := asBool(v); p.LiquidAlpha = b; return err }},
	{"AlphaValues", false, func(p *SubnetParams, v any) error {
		l, ok := v.([]any)
		if !ok || len(l) != 2 {
			return fmt.Errorf("want (low, high), got %T", v)
		}
		lo, err1 := asUint(l[0])
		hi, err2 := asUint(l[1])
		p.AlphaLow, p.AlphaHigh = float64(lo)/65535, float64(hi)/65535
		if err1 != nil {
			return err1
		}
		return err2
	}},
	{"AlphaSigmoidSteepness", false, func(p *SubnetParams, v any) error {
		switch x := v.(type) {
		case int64:
			p.AlphaSigmoidSteepness = float64(x)
		case uint64:
			p.AlphaSigmoidSteepness = float64(x)
		default:
			return fmt.Errorf("want an integer, got %T", v)
		}
		return nil
	}},
	{"ActivityCutoff", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.ActivityCutoff = int64(n) }) }},
	{"MaxAllowedUids", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.MaxAllowedUIDs = int(n) }) }},
	{"MaxAllowedValidators", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.MaxAllowedValidators = int(n) }) }},
	{"MinAllowedWeights", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.MinAllowedWeights = int(n) }) }},
	{"MaxWeightsLimit", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.MaxWeightsLimit = uint16(n) }) }},
	{"WeightsVersionKey", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.WeightsVersionKey = n }) }},
	{"WeightsSetRateLimit", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.WeightsRateLimit = int64(n) }) }},
	{"ImmunityPeriod", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.ImmunityPeriod = int64(n) }) }},
	{"ServingRateLimit", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.ServingRateLimit = int64(n) }) }},
	{"CommitRevealWeightsEnabled", false, func(p *SubnetParams, v any) error { b, err := asBool(v); p.CommitReveal = b; return err }},
	{"RevealPeriodEpochs", false, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.RevealPeriodEpochs = n }) }},
	{"LastMechansimStepBlock", false, func(p *SubnetParams, v any) error { return setInt(&p.LastStepBlock)(p, v) }},
	{"StakeThreshold", true, func(p *SubnetParams, v any) error {
		return setU(v, func(n uint64) { p.StakeThreshold = float64(n) / raoPerTAO })
	}},
	{"SubnetOwnerCut", true, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.OwnerCut = float64(n) / 65535 }) }},
	{"CommitRevealWeightsVersion", true, func(p *SubnetParams, v any) error { return setU(v, func(n uint64) { p.CommitRevealVersion = n }) }},
}

func setU(v any, f func(uint64)) error {
	n, err := asUint(v)
	if err == nil {
		f(n)
	}
	return err
}

// paramsAt reads the hyperparameters from storage at block. Items the
// runtime does not have are left at zero.
func (c *Client) paramsAt(ctx context.Context, rt *runtimeInfo, block string) (SubnetParams, error) {
	var p SubnetParams
	var qs []storageQuery
	var specs []paramSpec
	for _, s := range paramSpecs {
		if _, _, err := rt.md.Storage("SubtensorModule", s.item); err != nil {
			continue
		}
		q := storageQuery{pallet: "SubtensorModule", item: s.item}
		if !s.global {
			q.keys = []any{c.opts.NetUID}
		}
		qs, specs = append(qs, q), append(specs, s)
	}
	vals, err := c.queryStorage(ctx, rt, block, qs)
	if err != nil {
		return p, err
	}
	for i, s := range specs {
		if vals[i] == nil {
			continue
		}
		if err := s.set(&p, vals[i]); err != nil {
			return p, crucible.Errorf(crucible.EINTERNAL, "subtensor: hyperparameter %s: %v", s.item, err)
		}
	}
	return p, nil
}
