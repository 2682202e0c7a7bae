package chain

import (
	"math"
	"sort"

	"github.com/crucible-net/crucible/crucible"
)

// MaxUpscale scales u16 weights so that the largest is 65535, rounding, as
// Subtensor does before storing them. All-zero input stays zero.
func MaxUpscale(vals []uint16) []uint16 {
	out := make([]uint16, len(vals))
	var mx uint16
	for _, v := range vals {
		mx = max(mx, v)
	}
	if mx == 0 {
		return out
	}
	for i, v := range vals {
		out[i] = uint16(math.Round(float64(v) * 65535 / float64(mx)))
	}
	return out
}

// weightsRequest is one set_weights call as the chain sees it.
type weightsRequest struct {
	block      int64
	n          int // subnet size
	uid        int // caller's uid
	stake      float64
	permit     bool
	lastUpdate int64
	ownerUID   int // -1: none
	uids       []uint16
	values     []uint16
	versionKey uint64
}

// checkWeights applies Subtensor's set_weights checks in its order and
// returns the values max-upscaled for storage.
func checkWeights(p Hyperparams, r weightsRequest) ([]uint16, error) {
	if len(r.uids) != len(r.values) {
		return nil, ErrWeightVecNotEqualSize.with("%d uids but %d weights", len(r.uids), len(r.values))
	}
	if len(r.uids) > r.n {
		return nil, ErrUidsLengthExceedUids.with("%d weights for a subnet of %d uids", len(r.uids), r.n)
	}
	isOwner := r.ownerUID >= 0 && r.uid == r.ownerUID
	if !isOwner && r.stake < p.StakeThreshold {
		return nil, ErrNotEnoughStakeToSetWeights.with("stake %g TAO is below the threshold %g", r.stake, p.StakeThreshold)
	}
	if p.WeightsVersionKey != 0 && r.versionKey < p.WeightsVersionKey {
		return nil, ErrIncorrectWeightVersionKey.with("version key %d is older than the subnet's %d", r.versionKey, p.WeightsVersionKey)
	}
	if r.lastUpdate != 0 && r.block-r.lastUpdate < p.WeightsRateLimit {
		return nil, ErrSettingWeightsTooFast.with("last set at block %d, now %d; wait until block %d (rate limit %d blocks)",
			r.lastUpdate, r.block, r.lastUpdate+p.WeightsRateLimit, p.WeightsRateLimit)
	}
	self := len(r.values) == 1 && len(r.uids) == 1 && int(r.uids[0]) == r.uid
	if !self && !isOwner && !r.permit {
		return nil, ErrNeuronNoValidatorPermit.with("uid %d has no validator permit (permits go to the top %d by stake at each epoch)", r.uid, p.MaxAllowedValidators)
	}
	seen := make(map[uint16]bool, len(r.uids))
	for _, u := range r.uids {
		if seen[u] {
			return nil, ErrDuplicateUids.with("uid %d appears twice", u)
		}
		seen[u] = true
	}
	for _, u := range r.uids {
		if int(u) >= r.n {
			return nil, ErrUidVecContainInvalidOne.with("uid %d does not exist (the subnet has %d uids)", u, r.n)
		}
	}
	if minW := min(r.n, p.MinAllowedWeights); !self && len(r.values) < minW {
		return nil, ErrWeightVecLengthIsLow.with("%d weights, the minimum is %d", len(r.values), minW)
	}
	up := MaxUpscale(r.values)
	if !self && p.MaxWeightsLimit != 65535 {
		var total, mx float64
		for _, v := range up {
			total += float64(v)
			mx = math.Max(mx, float64(v))
		}
		if total > 0 && mx/total > float64(p.MaxWeightsLimit)/65535 {
			return nil, ErrMaxWeightExceeded.with("the largest weight is %.4f of the total, the limit is %.4f", mx/total, float64(p.MaxWeightsLimit)/65535)
		}
	}
	return up, nil
}

// ConvertWeights turns a validator's float weights per uid into set_weights
// arguments the way Bittensor's SDK does (convert_weights_and_uids_for_emit):
// divide by the largest weight, scale to 65535, round, and drop the zeros.
// Negative or non-finite weights and mismatched lengths are errors; all-zero
// weights give empty slices (nothing to set).
func ConvertWeights(uids []uint16, weights []float64) ([]uint16, []uint16, error) {
	if len(uids) != len(weights) {
		return nil, nil, ErrWeightVecNotEqualSize.with("%d uids but %d weights", len(uids), len(weights))
	}
	var mx float64
	for k, w := range weights {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, nil, crucibleInvalid("weight %d (uid %d) is %v: weights must be non-negative numbers", k, uids[k], w)
		}
		mx = math.Max(mx, w)
	}
	var outU, outW []uint16
	if mx == 0 {
		return outU, outW, nil
	}
	for k, w := range weights {
		if v := math.Round(w / mx * 65535); v > 0 {
			outU = append(outU, uids[k])
			outW = append(outW, uint16(v))
		}
	}
	return outU, outW, nil
}

// NormalizeMaxWeight normalizes x to sum 1 so that no entry exceeds limit,
// capping the largest entries at a common value and spreading the rest in
// proportion (the aim of the SDK's normalize_max_weight, solved exactly).
// When limit is below 1/len(x) no such vector exists and the uniform one is
// returned; all-zero x also gives the uniform vector.
func NormalizeMaxWeight(x []float64, limit float64) []float64 {
	n := len(x)
	out := make([]float64, n)
	if n == 0 {
		return out
	}
	total := sum(x)
	if total <= 0 || float64(n)*limit <= 1 {
		for i := range out {
			out[i] = 1 / float64(n)
		}
		return out
	}
	desc := append([]float64(nil), x...)
	sort.Sort(sort.Reverse(sort.Float64Slice(desc)))
	cut := math.Inf(1)
	if desc[0]/total > limit {
		// Cap the k largest at c, with c = limit × (Σ of the rest + k c).
		rest := total
		for k := 1; k <= n; k++ {
			rest -= desc[k-1]
			c := limit * rest / (1 - float64(k)*limit)
			next := 0.0
			if k < n {
				next = desc[k]
			}
			if c >= next && c <= desc[k-1] {
				cut = c
				break
			}
		}
	}
	for i, v := range x {
		out[i] = math.Min(v, cut)
	}
	normalize(out)
	return out
}

func crucibleInvalid(format string, args ...any) error {
	return crucible.Errorf(crucible.EINVALID, format, args...)
}
