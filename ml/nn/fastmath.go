package nn

import "math"

// Fast float32 transcendental functions. Go's math package works in float64
// and is several times slower than these; softmax, the loss and the
// activations spend most of their time here. expf is accurate to about two
// ulps over the float32 range; every function is pure Go, so results are the
// same on every amd64 machine.

const (
	log2e  = 1.44269504088896341
	ln2Hi  = 0.693359375
	ln2Lo  = -2.12194440e-4
	expMax = 88.0
	expMin = -87.33654
)

// expf returns e^x in float32 (Cephes-style range reduction and a degree-6
// polynomial). Inputs below expMin flush to 0.
func expf(x float32) float32 {
	if x != x {
		return x
	}
	if x < expMin {
		return 0
	}
	if x > expMax {
		return float32(math.Exp(float64(x)))
	}
	// n = round(x·log2 e) via the 1.5·2^23 trick (round to nearest even).
	t := x*log2e + 12582912.0
	n := t - 12582912.0
	r := x - n*ln2Hi
	r = r - n*ln2Lo
	z := r * r
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*z + r + 1
	return y * math.Float32frombits(uint32(int32(n)+127)<<23)
}

// tanhf returns tanh(x) via expf; absolute error is about 1e-7.
func tanhf(x float32) float32 {
	if x > 9 {
		return 1
	}
	if x < -9 {
		return -1
	}
	e := expf(2 * x)
	return (e - 1) / (e + 1)
}

// sigmoidf returns 1/(1+e^-x).
func sigmoidf(x float32) float32 {
	return 1 / (1 + expf(-x))
}

// expShift writes dst[i] = e^(src[i]+shift) for i < len(dst) and returns
// the float32 sum of the results, summed in a fixed order for a given
// length. dst may alias src. It is the vectorized heart of every softmax.
func expShift(dst, src []float32, shift float32) float32 {
	n := len(dst)
	src = src[:n]
	var sum float32
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		sum = expShiftAVX2(&dst[0], &src[0], i, shift)
	}
	for ; i < n; i++ {
		e := expf(src[i] + shift)
		dst[i] = e
		sum += e
	}
	return sum
}

// scaleTo writes dst[i] = src[i]·s for i < len(dst). dst may alias src.
func scaleTo(dst, src []float32, s float32) {
	n := len(dst)
	src = src[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		scaleAVX2(&dst[0], &src[0], i, s)
	}
	for ; i < n; i++ {
		dst[i] = src[i] * s
	}
}

// expChunk is the length of the pieces whose float32 exponential sums are
// added in float64 by expSum64.
const expChunk = 512

// expSum64 returns Σ e^(x[i]+shift), adding float32 sums of fixed-size
// chunks in float64 (accurate over long rows such as a vocabulary, and in a
// fixed order). If dst is not nil it receives the exponentials (it may
// alias x).
func expSum64(dst, x []float32, shift float32) float64 {
	var buf [expChunk]float32
	var s float64
	for i := 0; i < len(x); i += expChunk {
		j := min(i+expChunk, len(x))
		d := buf[:j-i]
		if dst != nil {
			d = dst[i:j]
		}
		s += float64(expShift(d, x[i:j], shift))
	}
	return s
}

// mulSub sets d[i] = p[i]·(d[i] − c) for i < len(d).
func mulSub(d, p []float32, c float32) {
	n := len(d)
	p = p[:n]
	i := 0
	if useAVX2 && n >= 8 {
		i = n &^ 7
		mulSubAVX2(&d[0], &p[0], i, c)
	}
	for ; i < n; i++ {
		d[i] = p[i] * (d[i] - c)
	}
}
