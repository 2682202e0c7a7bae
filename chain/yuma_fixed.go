package chain

import (
	"math"
	"math/bits"
	"sort"
)

// EpochFixed is Epoch in Subtensor's own arithmetic: I32F32 fixed point
// (stake shares in I64F64), rounding where the chain rounds, operation by
// operation in the chain's order, so that stored u16 values and rao
// emissions come out as the chain's do. Inputs are read as the chain holds
// them: weights as u16 values, bonds as u16/65535, stake and emission as
// integers (rounded). Liquid alpha's sigmoid is computed in float64 (the
// chain uses a fixed-point exponential), so with liquid alpha on, bonds may
// differ from the chain's in the last bits.
func EpochFixed(in EpochInput, p Hyperparams) (*EpochResult, error) {
	n := len(in.Stake)
	if err := in.check(n); err != nil {
		return nil, err
	}
	r := &EpochResult{}

	// Activity, stake, permits.
	r.Active = make([]bool, n)
	stake := make([]uint64, n)
	for i := range n {
		r.Active[i] = in.LastUpdate[i]+p.ActivityCutoff >= in.Block
		if i == in.OwnerUID || in.Stake[i] >= p.StakeThreshold {
			stake[i] = uint64(math.Round(in.Stake[i] * RaoPerTAO))
		}
	}
	S := stakeShares(stake)
	permit := append([]bool(nil), in.Permit...)
	r.Permit = topKNonzeroFx(S, p.MaxAllowedValidators)
	if in.OwnerUID >= 0 && in.OwnerUID < n {
		permit[in.OwnerUID] = true
		r.Permit[in.OwnerUID] = true
	}
	Sa := make([]fx, n)
	for i := range n {
		if r.Active[i] && permit[i] {
			Sa[i] = S[i]
		}
	}
	fxNormalize(Sa)

	// Weights: u16 values, masked, rows normalized.
	W := fxMatrix(n)
	for i := range n {
		if !permit[i] {
			continue
		}
		for j := range n {
			if (i == j && i != in.OwnerUID) || in.LastUpdate[i] <= in.RegisteredAt[j] {
				continue
			}
			W[i][j] = fxInt(int64(math.Round(in.Weights[i][j])))
		}
		fxNormalize(W[i])
	}

	// Consensus, clipping, validator trust, incentive.
	kappa := fxInt(int64(math.Round(p.Kappa * 65535))).div(fxInt(65535))
	C := fxMedianCols(Sa, W, kappa)
	Wc := fxMatrix(n)
	Tv := make([]fx, n)
	pre := make([]fx, n)
	ranks := make([]fx, n)
	for i := range n {
		for j := range n {
			Wc[i][j] = min(W[i][j], C[j])
			Tv[i] = Tv[i].add(Wc[i][j])
			pre[j] = pre[j].add(Sa[i].mul(W[i][j]))
			ranks[j] = ranks[j].add(Sa[i].mul(Wc[i][j]))
		}
	}
	T := make([]fx, n)
	for j := range n {
		T[j] = ranks[j].div(pre[j])
	}
	I := ranks
	fxNormalize(I)

	// Bonds and dividends.
	beta := fxInt(int64(math.Round(p.BondsPenalty * 65535))).div(fxInt(65535))
	Wb := fxMatrix(n)
	for i := range n {
		for j := range n {
			switch beta {
			case 0:
				Wb[i][j] = W[i][j]
			case fxOne:
				Wb[i][j] = Wc[i][j]
			default:
				Wb[i][j] = max(0, W[i][j].add(beta.mul(Wc[i][j]-W[i][j])))
			}
		}
	}
	// alpha = 1 − BondsMovingAverage/1e6, the quotient taken in I64F64.
	alpha := fxOne - fx((p.BondsMovingAverage<<32)/1_000_000)
	lastTempo := in.Block - p.Tempo
	if in.LastEpochBlock > 0 {
		lastTempo = in.LastEpochBlock + 1
	}
	B := fxMatrix(n)
	for i := range n {
		for j := range n {
			if lastTempo <= in.RegisteredAt[j] {
				continue
			}
			u := int64(math.Round(in.Bonds[i][j] * 65535))
			if p.Yuma3 {
				B[i][j] = fxInt(u).div(fxInt(65535))
			} else {
				B[i][j] = fxInt(u)
			}
		}
	}
	var bonds [][]fx
	var D []fx
	if p.Yuma3 {
		bonds, D = fxYuma3(B, Wb, Sa, C, I, alpha, p)
	} else {
		bonds, D = fxYuma2(B, Wb, Sa, I, alpha)
	}

	// Emission, in rao.
	emission := uint64(math.Round(in.Emission))
	total := fxSum(I).add(fxSum(D))
	se, ve, ce := make([]fx, n), make([]fx, n), make([]fx, n)
	for i := range n {
		ce[i] = I[i].add(D[i])
	}
	fxNormalize(ce)
	if total != 0 {
		for i := range n {
			se[i], ve[i] = I[i].div(total), D[i].div(total)
		}
	} else {
		by := Sa
		if fxSum(Sa) == 0 {
			by = S
		}
		copy(ve, by)
		copy(ce, by)
	}

	r.StakeWeight, r.ActiveStake = fxFloats(S), fxFloats(Sa)
	r.Consensus, r.ValidatorTrust, r.Trust = fxFloats(C), fxFloats(Tv), fxFloats(T)
	r.Incentive, r.Dividends = fxFloats(I), fxFloats(D)
	r.ServerEmission, r.ValidatorEmission, r.TotalEmission = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range n {
		r.ServerEmission[i] = float64(raoOf(se[i], emission))
		r.ValidatorEmission[i] = float64(raoOf(ve[i], emission))
		r.TotalEmission[i] = float64(raoOf(ce[i], emission))
	}
	r.Bonds = newMatrix(n)
	for i := range n {
		if !r.Permit[i] {
			continue
		}
		for j := range n {
			r.Bonds[i][j] = float64(bonds[i][j].toU16()) / 65535
		}
	}
	return r, nil
}

// fxYuma2 is yuma2Bonds in fixed point; bonds come back column
// max-upscaled.
func fxYuma2(B, Wb [][]fx, Sa, I []fx, alpha fx) ([][]fx, []fx) {
	n := len(Sa)
	fxColNormalize(B)
	dB := fxMatrix(n)
	for i := range n {
		for j := range n {
			dB[i][j] = Wb[i][j].mul(Sa[i])
		}
	}
	fxColNormalize(dB)
	ema := fxMatrix(n)
	for i := range n {
		for j := range n {
			ema[i][j] = alpha.mul(dB[i][j]).add((fxOne - alpha).mul(B[i][j]))
		}
	}
	fxColNormalize(ema)
	D := make([]fx, n)
	for i := range n {
		for j := range n {
			D[i] = D[i].add(I[j].mul(ema[i][j]))
		}
	}
	fxNormalize(D)
	for j := range n {
		var mx fx
		for i := range n {
			mx = max(mx, ema[i][j])
		}
		if mx == 0 {
			continue
		}
		for i := range n {
			ema[i][j] = ema[i][j].div(mx)
		}
	}
	return ema, D
}

// fxYuma3 is yuma3Bonds in fixed point; bonds come back as proportions.
func fxYuma3(B, Wb [][]fx, Sa, C, I []fx, alpha fx, p Hyperparams) ([][]fx, []fx) {
	n := len(Sa)
	liquid := p.LiquidAlpha && fxSum(C) != 0
	ema := fxMatrix(n)
	for i := range n {
		for j := range n {
			a := alpha
			if liquid {
				a = fxFloat(liquidAlpha(C[j].float(), Wb[i][j].float(), B[i][j].float(), p))
			}
			if liquid {
				ema[i][j] = min(fxOne, (fxOne - a).mul(B[i][j]).add(max(0, a.mul(Wb[i][j]))))
			} else {
				ema[i][j] = a.mul(Wb[i][j]).add((fxOne - a).mul(B[i][j]))
			}
		}
	}
	norm := fxMatrix(n)
	for i := range n {
		copy(norm[i], ema[i])
	}
	fxColNormalize(norm)
	D := make([]fx, n)
	for i := range n {
		for j := range n {
			D[i] = D[i].add(norm[i][j].mul(I[j]))
		}
		D[i] = D[i].mul(Sa[i])
	}
	fxNormalize(D)
	return ema, D
}

// fxMedianCols is weightedMedianCols in fixed point: the validators' stake
// is renormalized over those with stake, and the comparisons are exact.
func fxMedianCols(stake []fx, W [][]fx, kappa fx) []fx {
	n := len(stake)
	var rows []int
	var st []fx
	for i, s := range stake {
		if s > 0 {
			rows = append(rows, i)
			st = append(st, s)
		}
	}
	fxNormalize(st)
	minority := fxSum(st) - kappa
	C := make([]fx, n)
	if len(rows) == 0 {
		return C
	}
	type vote struct{ w, s fx }
	votes := make([]vote, len(rows))
	for j := range n {
		for k, i := range rows {
			votes[k] = vote{W[i][j], st[k]}
		}
		sort.Slice(votes, func(a, b int) bool { return votes[a].w < votes[b].w })
		var cum fx
		for k := 0; k < len(votes); {
			v := votes[k].w
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

func topKNonzeroFx(x []fx, k int) []bool {
	f := make([]float64, len(x))
	for i, v := range x {
		f[i] = float64(v) // order-preserving, exact for int64 ordering of distinct small values
	}
	return topKNonzero(f, k)
}

func fxFloats(x []fx) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v.float()
	}
	return out
}

// raoOf is I96F32(share) × emission, rounded down to a whole rao.
func raoOf(share fx, emission uint64) uint64 {
	if share <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(share), emission)
	return lo>>32 | hi<<32
}
