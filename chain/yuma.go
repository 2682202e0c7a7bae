package chain

import (
	"fmt"
	"math"
	"sort"
)

// EpochInput is the state one epoch reads. Every vector has one entry per
// uid and every matrix is n×n (row = validator, column = miner).
type EpochInput struct {
	Block int64 // the block the epoch runs at
	// LastEpochBlock is the block of the previous epoch (0 if none): bonds
	// to neurons registered after it are reset.
	LastEpochBlock int64
	Stake          []float64 // raw stake, in the unit of StakeThreshold (TAO)
	LastUpdate     []int64   // block of each neuron's last set_weights
	RegisteredAt   []int64   // block of each neuron's registration
	Permit         []bool    // validator permits from the previous epoch
	// Weights holds the stored weights, row i being validator i's (any
	// non-negative scale; rows are normalized here).
	Weights [][]float64
	// Bonds holds the stored bonds as proportions (stored u16 / 65535):
	// Yuma 2 keeps them column max-upscaled, Yuma 3 as they are.
	Bonds [][]float64
	// OwnerUID is the subnet owner's uid, which keeps its permit and may
	// weight itself; -1 when there is none.
	OwnerUID int
	// Emission is the amount to distribute in this epoch.
	Emission float64
}

// EpochResult is what an epoch computes. Proportions are in [0, 1];
// emissions are in the unit of EpochInput.Emission.
type EpochResult struct {
	Active         []bool
	StakeWeight    []float64 // S: normalized stake after the threshold
	ActiveStake    []float64 // S^a: S of active permitted validators, normalized
	Permit         []bool    // validator permits for the next epoch
	Consensus      []float64 // C: stake-weighted κ-quantile of each column
	ValidatorTrust []float64 // Tv: Σ_j clipped W_ij
	Trust          []float64 // T: clipped rank / unclipped rank
	Incentive      []float64 // I: normalized clipped rank
	Dividends      []float64 // D
	// Bonds are the new bonds in storage form: column max-upscaled (Yuma 2)
	// or proportions (Yuma 3); rows of neurons without a permit are zero.
	Bonds             [][]float64
	ServerEmission    []float64 // I/(ΣI+ΣD) × emission
	ValidatorEmission []float64 // D/(ΣI+ΣD) × emission
	// TotalEmission is each neuron's share of the epoch's emission: server
	// plus validator emission (EpochFixed: normalize(I + D) × emission in
	// rao, as the chain records it).
	TotalEmission []float64
}

// Epoch runs Yuma Consensus as Subtensor's epoch does (pallet subtensor
// epoch/run_epoch.rs, epoch_mechanism, at commit 14bc6f9f), in float64:
//
//  1. active_i: LastUpdate_i + ActivityCutoff ≥ Block.
//  2. S = normalize(stake, zeroing stake below StakeThreshold); new permits
//     for the top MaxAllowedValidators non-zero S; S^a = normalize(S of
//     active neurons holding a permit).
//  3. W: rows of non-permitted neurons, the diagonal (except the owner's)
//     and weights set before the target registered are zeroed; rows
//     normalized.
//  4. C_j = the weight at which the stake of validators, sorted by their
//     weight on j, first exceeds 1 − κ (the stake-weighted median for κ ½).
//  5. W̄ = min(W, C); Tv = row sums of W̄; I = normalize(W̄ᵀ S^a).
//  6. Bonds from W^b = W + β(W̄ − W): Yuma 2 is an EMA of the column-
//     normalized W^b ⊙ S^a with rate 1 − BondsMovingAverage/1e6, and
//     D = B'ᵀI; Yuma 3 is a per-entry EMA of W^b itself (liquid alpha
//     optional) and D = S^a ⊙ (B̂ I). D is normalized.
//  7. Emission splits by I and D over ΣI + ΣD; with none of either, it goes
//     to validators by active stake (or stake).
//
// Commit-reveal masks are not applied: the local chain has no commit-reveal.
func Epoch(in EpochInput, p Hyperparams) (*EpochResult, error) {
	n := len(in.Stake)
	if err := in.check(n); err != nil {
		return nil, err
	}
	r := &EpochResult{}
	permit := r.stakeAndPermits(in, p)
	W := maskedWeights(in, permit)

	// Consensus, clipping, trust, incentive.
	r.Consensus = weightedMedianCols(r.ActiveStake, W, p.Kappa)
	Wc := newMatrix(n)
	r.ValidatorTrust = make([]float64, n)
	for i := range n {
		for j := range n {
			Wc[i][j] = math.Min(W[i][j], r.Consensus[j])
			r.ValidatorTrust[i] += Wc[i][j]
		}
	}
	pre := matTVec(W, r.ActiveStake)
	ranks := matTVec(Wc, r.ActiveStake)
	r.Trust = make([]float64, n)
	for j := range n {
		if pre[j] > 0 {
			r.Trust[j] = ranks[j] / pre[j]
		}
	}
	r.Incentive = ranks
	normalize(r.Incentive)

	// Bonds and dividends.
	Wb := newMatrix(n)
	for i := range n {
		for j := range n {
			Wb[i][j] = W[i][j] + p.BondsPenalty*(Wc[i][j]-W[i][j])
		}
	}
	B := storedBonds(in, p)
	if p.Yuma3 {
		r.Bonds, r.Dividends = yuma3Bonds(B, Wb, r.ActiveStake, r.Consensus, r.Incentive, p)
	} else {
		r.Bonds, r.Dividends = yuma2Bonds(B, Wb, r.ActiveStake, r.Incentive, p)
	}
	for i := range n {
		if !r.Permit[i] {
			for j := range n {
				r.Bonds[i][j] = 0
			}
		}
	}
	r.splitEmission(in.Emission)
	return r, nil
}

// stakeAndPermits fills Active, StakeWeight, the next epoch's Permit and
// ActiveStake, and returns the permits in force for this epoch.
func (r *EpochResult) stakeAndPermits(in EpochInput, p Hyperparams) []bool {
	n := len(in.Stake)
	r.Active = make([]bool, n)
	for i := range n {
		r.Active[i] = in.LastUpdate[i]+p.ActivityCutoff >= in.Block
	}
	S := make([]float64, n)
	for i := range n {
		if i == in.OwnerUID || in.Stake[i] >= p.StakeThreshold {
			S[i] = in.Stake[i]
		}
	}
	normalize(S)
	r.StakeWeight = S
	permit := append([]bool(nil), in.Permit...)
	r.Permit = topKNonzero(S, p.MaxAllowedValidators)
	if in.OwnerUID >= 0 && in.OwnerUID < n {
		permit[in.OwnerUID] = true
		r.Permit[in.OwnerUID] = true
	}
	Sa := make([]float64, n)
	for i := range n {
		if r.Active[i] && permit[i] {
			Sa[i] = S[i]
		}
	}
	normalize(Sa)
	r.ActiveStake = Sa
	return permit
}

// maskedWeights returns the row-normalized weights that count: those of
// permitted validators, not on themselves (except the owner), and set after
// their target registered.
func maskedWeights(in EpochInput, permit []bool) [][]float64 {
	n := len(in.Stake)
	W := newMatrix(n)
	for i := range n {
		if !permit[i] {
			continue
		}
		for j := range n {
			if i == j && i != in.OwnerUID {
				continue
			}
			if in.LastUpdate[i] <= in.RegisteredAt[j] {
				continue // set before j (re)registered: meant for someone else
			}
			if w := in.Weights[i][j]; w > 0 {
				W[i][j] = w
			}
		}
		normalize(W[i])
	}
	return W
}

// storedBonds returns the stored bonds with the columns of neurons
// registered since the last epoch reset.
func storedBonds(in EpochInput, p Hyperparams) [][]float64 {
	n := len(in.Stake)
	B := newMatrix(n)
	lastTempo := in.Block - p.Tempo
	if in.LastEpochBlock > 0 {
		lastTempo = in.LastEpochBlock + 1
	}
	for i := range n {
		for j := range n {
			if lastTempo <= in.RegisteredAt[j] {
				continue // j registered since the last epoch: start afresh
			}
			B[i][j] = in.Bonds[i][j]
		}
	}
	return B
}

// splitEmission pays emission by incentive and dividends over ΣI + ΣD; with
// neither, validators get it by active stake (or stake, if none is active).
func (r *EpochResult) splitEmission(emission float64) {
	n := len(r.Incentive)
	r.ServerEmission = make([]float64, n)
	r.ValidatorEmission = make([]float64, n)
	r.TotalEmission = make([]float64, n)
	total := sum(r.Incentive) + sum(r.Dividends)
	if total > 0 {
		for i := range n {
			r.ServerEmission[i] = r.Incentive[i] / total * emission
			r.ValidatorEmission[i] = r.Dividends[i] / total * emission
		}
	} else {
		by := r.ActiveStake
		if sum(by) == 0 {
			by = r.StakeWeight
		}
		for i := range n {
			r.ValidatorEmission[i] = by[i] * emission
		}
	}
	for i := range n {
		r.TotalEmission[i] = r.ServerEmission[i] + r.ValidatorEmission[i]
	}
}

func (in *EpochInput) check(n int) error {
	bad := func(name string, got int) error {
		return fmt.Errorf("epoch input: %s has %d entries, want %d (one per uid)", name, got, n)
	}
	switch {
	case len(in.LastUpdate) != n:
		return bad("LastUpdate", len(in.LastUpdate))
	case len(in.RegisteredAt) != n:
		return bad("RegisteredAt", len(in.RegisteredAt))
	case len(in.Permit) != n:
		return bad("Permit", len(in.Permit))
	case len(in.Weights) != n:
		return bad("Weights", len(in.Weights))
	case len(in.Bonds) != n:
		return bad("Bonds", len(in.Bonds))
	}
	for i := range n {
		if len(in.Weights[i]) != n {
			return bad(fmt.Sprintf("Weights row %d", i), len(in.Weights[i]))
		}
		if len(in.Bonds[i]) != n {
			return bad(fmt.Sprintf("Bonds row %d", i), len(in.Bonds[i]))
		}
		for j := range n {
			if w := in.Weights[i][j]; w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
				return fmt.Errorf("epoch input: weight [%d][%d] = %v: must be a non-negative number", i, j, w)
			}
			if b := in.Bonds[i][j]; b < 0 || math.IsNaN(b) || math.IsInf(b, 0) {
				return fmt.Errorf("epoch input: bond [%d][%d] = %v: must be a non-negative number", i, j, b)
			}
		}
		if s := in.Stake[i]; s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("epoch input: stake of uid %d = %v: must be a non-negative number", i, s)
		}
	}
	return nil
}

// yuma2Bonds is the classic bond EMA: ΔB = colnorm(W^b ⊙ S^a),
// B' = colnorm(α ΔB + (1−α) colnorm(B)), D = normalize(B'ᵀ I); bonds are
// stored column max-upscaled.
func yuma2Bonds(B, Wb [][]float64, Sa, I []float64, p Hyperparams) ([][]float64, []float64) {
	n := len(Sa)
	colNormalize(B)
	dB := newMatrix(n)
	for i := range n {
		for j := range n {
			dB[i][j] = Wb[i][j] * Sa[i]
		}
	}
	colNormalize(dB)
	a := p.bondsAlpha()
	ema := newMatrix(n)
	for i := range n {
		for j := range n {
			ema[i][j] = a*dB[i][j] + (1-a)*B[i][j]
		}
	}
	colNormalize(ema)
	D := make([]float64, n)
	for i := range n {
		for j := range n {
			D[i] += ema[i][j] * I[j]
		}
	}
	normalize(D)
	colMaxUpscale(ema)
	return ema, D
}

// yuma3Bonds is Yuma 3: B' = min(1, (1−α) B + α W^b) entry by entry, with α
// constant or, with liquid alpha, set per entry by how far the weight is
// from consensus (buying) or from the bond (selling); D = normalize(S^a ⊙
// (colnorm(B') I)). Bonds are stored as proportions.
func yuma3Bonds(B, Wb [][]float64, Sa, C, I []float64, p Hyperparams) ([][]float64, []float64) {
	n := len(Sa)
	liquid := p.LiquidAlpha && sum(C) > 0
	a := p.bondsAlpha()
	ema := newMatrix(n)
	for i := range n {
		for j := range n {
			alpha := a
			if liquid {
				alpha = liquidAlpha(C[j], Wb[i][j], B[i][j], p)
			}
			v := (1-alpha)*B[i][j] + alpha*Wb[i][j]
			ema[i][j] = math.Max(0, math.Min(1, v))
		}
	}
	norm := newMatrix(n)
	for i := range n {
		copy(norm[i], ema[i])
	}
	colNormalize(norm)
	D := make([]float64, n)
	for i := range n {
		for j := range n {
			D[i] += norm[i][j] * I[j]
		}
		D[i] *= Sa[i]
	}
	normalize(D)
	return ema, D
}

// liquidAlpha is the per-entry bond EMA rate of liquid alpha: a sigmoid of
// the distance that drives the change, between AlphaLow and AlphaHigh.
func liquidAlpha(c, w, b float64, p Hyperparams) float64 {
	var d float64
	if w >= b {
		d = clamp(w-c, 0, 1) // buying: how far above consensus
	} else {
		d = clamp(b-w, 0, 1) // selling: how far below the bond
	}
	k := p.AlphaSigmoidSteepness / 100
	sig := 1 / (1 + math.Exp(-k*(d-0.5)))
	return clamp(p.AlphaLow+sig*(p.AlphaHigh-p.AlphaLow), p.AlphaLow, p.AlphaHigh)
}

// weightedMedianCols returns, for each column j, the stake-weighted
// κ-quantile of W[·][j] over validators with positive stake: the smallest
// value v such that the stake on values ≤ v exceeds 1 − κ (with stake
// renormalized over those validators).
func weightedMedianCols(stake []float64, W [][]float64, kappa float64) []float64 {
	n := 0 // columns
	if len(W) > 0 {
		n = len(W[0])
	}
	var rows []int
	var st []float64
	for i, s := range stake {
		if s > 0 {
			rows = append(rows, i)
			st = append(st, s)
		}
	}
	normalize(st)
	minority := sum(st) - kappa
	C := make([]float64, n)
	if len(rows) == 0 {
		return C
	}
	type vote struct{ w, s float64 }
	votes := make([]vote, len(rows))
	for j := range n {
		for k, i := range rows {
			votes[k] = vote{W[i][j], st[k]}
		}
		sort.Slice(votes, func(a, b int) bool { return votes[a].w < votes[b].w })
		cum := 0.0
		for k := 0; k < len(votes); {
			v := votes[k].w
			// Take every validator at this value at once.
			for k < len(votes) && votes[k].w == v {
				cum += votes[k].s
				k++
			}
			if cum > minority || k == len(votes) {
				C[j] = v
				break
			}
		}
	}
	return C
}

// topKNonzero marks the k largest non-zero entries; ties go to the higher
// index (Subtensor's stable ascending sort drops the lower ones first).
func topKNonzero(x []float64, k int) []bool {
	n := len(x)
	out := make([]bool, n)
	for i, v := range x {
		out[i] = v != 0
	}
	if n < k {
		return out
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	for _, i := range idx[:n-k] {
		out[i] = false
	}
	return out
}

func newMatrix(n int) [][]float64 {
	m := make([][]float64, n)
	back := make([]float64, n*n)
	for i := range m {
		m[i] = back[i*n : (i+1)*n : (i+1)*n]
	}
	return m
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

// normalize scales x to sum 1, leaving an all-zero x alone.
func normalize(x []float64) {
	s := sum(x)
	if s == 0 {
		return
	}
	for i := range x {
		x[i] /= s
	}
}

func colNormalize(m [][]float64) {
	if len(m) == 0 {
		return
	}
	for j := range m[0] {
		var s float64
		for i := range m {
			s += m[i][j]
		}
		if s == 0 {
			continue
		}
		for i := range m {
			m[i][j] /= s
		}
	}
}

func colMaxUpscale(m [][]float64) {
	if len(m) == 0 {
		return
	}
	for j := range m[0] {
		var mx float64
		for i := range m {
			mx = math.Max(mx, m[i][j])
		}
		if mx == 0 {
			continue
		}
		for i := range m {
			m[i][j] /= mx
		}
	}
}

// matTVec returns Mᵀv: out_j = Σ_i M_ij v_i.
func matTVec(m [][]float64, v []float64) []float64 {
	out := make([]float64, len(v))
	for i := range m {
		if v[i] == 0 {
			continue
		}
		for j, x := range m[i] {
			out[j] += x * v[i]
		}
	}
	return out
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

// ToU16 converts a proportion to Subtensor's u16 storage, rounding down as
// the chain's fixed-point conversion does. A nudge far below the chain's own
// resolution (2^-32) keeps u/65535 from turning into u−1.
func ToU16(x float64) uint16 {
	v := math.Floor(x*65535 + 1e-6)
	switch {
	case v <= 0 || math.IsNaN(v):
		return 0
	case v >= 65535:
		return 65535
	}
	return uint16(v)
}
