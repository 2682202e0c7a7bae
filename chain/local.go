package chain

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/crucible-net/crucible/crucible"
)

// RaoPerTAO is the number of rao (the chain's integer unit) in one TAO.
const RaoPerTAO = 1e9

// LocalOptions configure a Local chain.
type LocalOptions struct {
	// Path is the JSON file the state is kept in; "" keeps it in memory
	// (unless Store is set).
	Path string
	// Store, when set, keeps the state instead of Path: e.g. the database of
	// the validator the chain is embedded in.
	Store StateStore
	// Params are the subnet's hyperparameters. They apply also when Path
	// holds state from an earlier run (they are configuration, not state).
	Params Hyperparams
	// CheckAddress validates hotkey and coldkey addresses (the crucible
	// command checks SS58). Nil accepts any non-empty name without spaces.
	CheckAddress func(addr string) error
	// Now stamps the metagraph's UpdatedAt. Defaults to time.Now.
	Now func() time.Time
	// FixedPoint runs epochs with EpochFixed (Subtensor's arithmetic,
	// bit for bit) instead of Epoch (float64).
	FixedPoint bool
}

// Local is a chain on this machine: one subnet, a block clock advanced by
// Advance (or Run), Yuma Consensus every tempo blocks, and Subtensor's rules
// for registration, serving and weights. It is safe for concurrent use.
type Local struct {
	mu    sync.Mutex
	opts  LocalOptions
	st    *state
	waits []blockWait
}

type blockWait struct {
	block int64
	ch    chan struct{}
}

// OpenLocal opens the local chain whose state is at opts.Path, creating it
// (at block 0, with no neurons) if the file does not exist.
func OpenLocal(opts LocalOptions) (*Local, error) {
	if err := opts.Params.Validate(); err != nil {
		return nil, crucible.Wrap(err, crucible.EINVALID, "local chain")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckAddress == nil {
		opts.CheckAddress = checkName
	}
	st := &state{Version: stateVersion, Stakes: map[string]int64{}}
	switch {
	case opts.Store != nil:
		b, err := opts.Store.LoadChainState(context.Background())
		if err != nil {
			return nil, crucible.Wrap(err, crucible.EINTERNAL, "read chain state")
		}
		if b != nil {
			loaded, err := parseState("in the store", b)
			if err != nil {
				return nil, err
			}
			st = loaded
		}
	case opts.Path != "":
		loaded, err := loadState(opts.Path)
		if err != nil {
			return nil, err
		}
		if loaded != nil {
			st = loaded
		}
	}
	return &Local{opts: opts, st: st}, nil
}

func checkName(addr string) error {
	if addr == "" || len(addr) > 64 || strings.ContainsAny(addr, " \t\r\n") {
		return fmt.Errorf("%q is not a valid account name", addr)
	}
	return nil
}

// CurrentBlock returns the current block number.
func (l *Local) CurrentBlock(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.Block, nil
}

// Hyperparams returns the subnet's parameters.
func (l *Local) Hyperparams(context.Context) (Hyperparams, error) {
	return l.opts.Params, nil
}

// Metagraph returns every neuron with the results of the last epoch.
func (l *Local) Metagraph(context.Context) (*Metagraph, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.opts.Now()
	m := &Metagraph{Block: l.st.Block, LastEpochBlock: l.st.LastEpochBlock, Hyperparams: l.opts.Params,
		Neurons: make([]Neuron, len(l.st.Neurons))}
	for uid, nr := range l.st.Neurons {
		m.Neurons[uid] = Neuron{
			Node: crucible.Node{
				UID: uid, Hotkey: nr.Hotkey, Coldkey: nr.Coldkey, IP: nr.IP, Port: nr.Port,
				Stake:      float64(l.st.Stakes[nr.Hotkey]) / RaoPerTAO,
				Validator:  nr.Permit,
				Incentive:  u16f(nr.Incentive),
				Trust:      u16f(nr.Trust),
				VTrust:     u16f(nr.ValidatorTrust),
				Dividends:  u16f(nr.Dividends),
				Consensus:  u16f(nr.Consensus),
				Emission:   float64(nr.Emission) / RaoPerTAO,
				LastUpdate: nr.LastUpdate,
				UpdatedAt:  now,
			},
			Active: nr.Active, RegisteredAt: nr.RegisteredAt, AxonBlock: nr.AxonBlock,
			Weights: append([]UIDWeight(nil), nr.Weights...),
			Bonds:   append([]UIDWeight(nil), nr.Bonds...),
		}
	}
	return m, nil
}

func u16f(v uint16) float64 { return float64(v) / 65535 }

// uidOf returns hotkey's uid, or -1.
func (l *Local) uidOf(hotkey string) int {
	for uid, nr := range l.st.Neurons {
		if nr.Hotkey == hotkey {
			return uid
		}
	}
	return -1
}

// Register registers hotkey under coldkey. In a full subnet it replaces the
// neuron with the lowest emission among those past their immunity period
// (the earliest registered among equals).
func (l *Local) Register(_ context.Context, hotkey, coldkey string) (int, error) {
	if err := l.opts.CheckAddress(hotkey); err != nil {
		return 0, ErrInvalidAddress.with("hotkey: %v", err)
	}
	if err := l.opts.CheckAddress(coldkey); err != nil {
		return 0, ErrInvalidAddress.with("coldkey: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if uid := l.uidOf(hotkey); uid >= 0 {
		return 0, ErrHotKeyAlreadyRegistered.with("hotkey %s is uid %d", hotkey, uid)
	}
	nr := neuronState{Hotkey: hotkey, Coldkey: coldkey, RegisteredAt: l.st.Block, LastUpdate: l.st.Block}
	uid := len(l.st.Neurons)
	if uid < l.opts.Params.MaxAllowedUIDs {
		l.st.Neurons = append(l.st.Neurons, nr)
	} else {
		uid = l.pruneCandidate()
		if uid < 0 {
			return 0, ErrNoNeuronIDAvailable.with("the subnet is full (%d uids) and every neuron is within its immunity period of %d blocks",
				len(l.st.Neurons), l.opts.Params.ImmunityPeriod)
		}
		l.st.Neurons[uid] = nr
	}
	if _, ok := l.st.Stakes[hotkey]; !ok {
		l.st.Stakes[hotkey] = 0
	}
	if err := l.save(); err != nil {
		return 0, err
	}
	return uid, nil
}

func (l *Local) pruneCandidate() int {
	best := -1
	for uid, nr := range l.st.Neurons {
		if l.st.Block-nr.RegisteredAt < l.opts.Params.ImmunityPeriod {
			continue
		}
		if best < 0 || nr.Emission < l.st.Neurons[best].Emission ||
			(nr.Emission == l.st.Neurons[best].Emission && nr.RegisteredAt < l.st.Neurons[best].RegisteredAt) {
			best = uid
		}
	}
	return best
}

// ServeAxon publishes hotkey's address. Loopback addresses are allowed (a
// local chain serves local nodes); unspecified ones (0.0.0.0) are not.
func (l *Local) ServeAxon(_ context.Context, hotkey, ip string, port int) error {
	addr := net.ParseIP(ip)
	if addr == nil || addr.IsUnspecified() {
		return ErrInvalidIPAddress.with("%q is not an address other nodes can reach", ip)
	}
	if port < 1 || port > 65535 {
		return ErrInvalidPort.with("port %d is not in 1..65535", port)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	uid := l.uidOf(hotkey)
	if uid < 0 {
		return ErrHotKeyNotRegistered.with("hotkey %s", hotkey)
	}
	nr := &l.st.Neurons[uid]
	if nr.AxonBlock != 0 && l.st.Block-nr.AxonBlock < l.opts.Params.ServingRateLimit {
		return ErrServingRateLimitExceeded.with("served at block %d, now %d; wait until block %d",
			nr.AxonBlock, l.st.Block, nr.AxonBlock+l.opts.Params.ServingRateLimit)
	}
	nr.IP, nr.Port, nr.AxonBlock = addr.String(), port, l.st.Block
	return l.save()
}

// SetWeights sets hotkey's weights after Subtensor's checks.
func (l *Local) SetWeights(_ context.Context, hotkey string, uids, weights []uint16, versionKey uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	uid := l.uidOf(hotkey)
	if uid < 0 {
		return ErrHotKeyNotRegistered.with("hotkey %s", hotkey)
	}
	nr := &l.st.Neurons[uid]
	up, err := checkWeights(l.opts.Params, weightsRequest{
		block: l.st.Block, n: len(l.st.Neurons), uid: uid,
		stake: float64(l.st.Stakes[hotkey]) / RaoPerTAO, permit: nr.Permit, lastUpdate: nr.LastUpdate,
		ownerUID: -1, uids: uids, values: weights, versionKey: versionKey,
	})
	if err != nil {
		return err
	}
	row := make([]UIDWeight, len(uids))
	for k := range uids {
		row[k] = UIDWeight{UID: uids[k], Value: up[k]}
	}
	sort.Slice(row, func(a, b int) bool { return row[a].UID < row[b].UID })
	nr.Weights = row
	nr.LastUpdate = l.st.Block
	return l.save()
}

// AddStake adds amount TAO to hotkey's stake.
func (l *Local) AddStake(_ context.Context, hotkey string, amount float64) error {
	rao := amount * RaoPerTAO
	if !(rao >= 1) || rao > 1e18 {
		return ErrAmountTooLow.with("stake amount %v TAO: must be between 1 rao and 1e9 TAO", amount)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.uidOf(hotkey) < 0 {
		return ErrHotKeyNotRegistered.with("hotkey %s", hotkey)
	}
	l.st.Stakes[hotkey] += int64(rao)
	return l.save()
}

// Advance moves the clock forward by blocks, accruing emission every block
// and running an epoch whenever tempo blocks have passed since the last.
func (l *Local) Advance(ctx context.Context, blocks int64) error {
	if blocks < 0 {
		return crucible.Errorf(crucible.EINVALID, "cannot advance by %d blocks", blocks)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.opts.Params
	for range blocks {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.st.Block++
		l.st.Pending += int64(p.EmissionPerBlock * (1 - p.OwnerCut) * RaoPerTAO)
		if l.st.Block-l.st.LastEpochBlock >= p.Tempo {
			if err := l.epoch(); err != nil {
				return err
			}
		}
	}
	if err := l.save(); err != nil {
		return err
	}
	l.wake()
	return nil
}

// RunEpoch runs an epoch at the current block now, as a subnet owner can
// make Subtensor do (PendingEpochAt); the next one follows tempo blocks
// later. Emission accrued so far is paid out.
func (l *Local) RunEpoch(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.epoch(); err != nil {
		return err
	}
	return l.save()
}

// WaitBlock returns once the chain has reached block, or ctx is done.
func (l *Local) WaitBlock(ctx context.Context, block int64) error {
	l.mu.Lock()
	if l.st.Block >= block {
		l.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	l.waits = append(l.waits, blockWait{block, ch})
	l.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wake releases the waiters whose block has come; l.mu is held.
func (l *Local) wake() {
	kept := l.waits[:0]
	for _, w := range l.waits {
		if l.st.Block >= w.block {
			close(w.ch)
		} else {
			kept = append(kept, w)
		}
	}
	l.waits = kept
}

// Run advances one block every blockTime until ctx is done.
func (l *Local) Run(ctx context.Context, blockTime time.Duration) error {
	if blockTime <= 0 {
		return crucible.Errorf(crucible.EINVALID, "block time %s must be positive", blockTime)
	}
	t := time.NewTicker(blockTime)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := l.Advance(ctx, 1); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// epoch runs Yuma Consensus on the current state and stores the results as
// the chain does (u16 proportions, rao), paying emission into stake.
func (l *Local) epoch() error {
	n := len(l.st.Neurons)
	in := EpochInput{
		Block: l.st.Block, LastEpochBlock: l.st.LastEpochBlock,
		Stake: make([]float64, n), LastUpdate: make([]int64, n), RegisteredAt: make([]int64, n),
		Permit: make([]bool, n), Weights: newMatrix(n), Bonds: newMatrix(n),
		OwnerUID: -1, Emission: float64(l.st.Pending),
	}
	for i, nr := range l.st.Neurons {
		in.Stake[i] = float64(l.st.Stakes[nr.Hotkey]) / RaoPerTAO
		in.LastUpdate[i] = nr.LastUpdate
		in.RegisteredAt[i] = nr.RegisteredAt
		in.Permit[i] = nr.Permit
		for _, w := range nr.Weights {
			if int(w.UID) < n {
				in.Weights[i][w.UID] = float64(w.Value)
			}
		}
		for _, b := range nr.Bonds {
			if int(b.UID) < n {
				in.Bonds[i][b.UID] = float64(b.Value) / 65535
			}
		}
	}
	run := Epoch
	if l.opts.FixedPoint {
		run = EpochFixed
	}
	r, err := run(in, l.opts.Params)
	if err != nil {
		return crucible.Wrap(err, crucible.EINTERNAL, "epoch at block %d", l.st.Block)
	}
	for i := range l.st.Neurons {
		nr := &l.st.Neurons[i]
		nr.Active = r.Active[i]
		nr.Permit = r.Permit[i]
		nr.Consensus = ToU16(r.Consensus[i])
		nr.Incentive = ToU16(r.Incentive[i])
		nr.Dividends = ToU16(r.Dividends[i])
		nr.ValidatorTrust = ToU16(r.ValidatorTrust[i])
		nr.Trust = ToU16(r.Trust[i])
		nr.Emission = int64(r.TotalEmission[i])
		l.st.Stakes[nr.Hotkey] += nr.Emission
		nr.Bonds = nr.Bonds[:0]
		for j, b := range r.Bonds[i] {
			if v := ToU16(b); v > 0 {
				nr.Bonds = append(nr.Bonds, UIDWeight{UID: uint16(j), Value: v})
			}
		}
	}
	l.st.Pending = 0
	l.st.LastEpochBlock = l.st.Block
	return nil
}
