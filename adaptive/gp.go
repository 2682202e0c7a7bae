package adaptive

import (
	"errors"
	"math"
)

// gp is a Gaussian-process regression on standardized targets with a
// Matérn 5/2 kernel: one length scale for the recipe dimensions, one for
// the task features, and a noise variance, chosen by marginal likelihood.
type gp struct {
	x             [][]float64
	mean, scale   float64 // of the targets
	lenP, lenF    float64
	noise         float64
	chol          [][]float64 // lower Cholesky factor of K + noise·I
	alpha         []float64   // (K + noise·I)⁻¹ y
	logLikelihood float64
}

// Hyperparameter grids, in unit-cube and standardized units.
var (
	gridLenP  = []float64{0.12, 0.2, 0.35, 0.6, 1.0}
	gridLenF  = []float64{0.25, 1.0}
	gridNoise = []float64{1e-4, 1e-2, 0.1}
)

// fitGP fits y at x, choosing the hyperparameters with the highest
// marginal likelihood.
func fitGP(x [][]float64, y []float64) (*gp, error) {
	if len(x) == 0 || len(x) != len(y) {
		return nil, errors.New("gp: no data")
	}
	mean, scale := 0.0, 0.0
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	for _, v := range y {
		scale += (v - mean) * (v - mean)
	}
	scale = math.Sqrt(scale / float64(len(y)))
	if scale < 1e-9 {
		scale = 1
	}
	ys := make([]float64, len(y))
	for i, v := range y {
		ys[i] = (v - mean) / scale
	}
	var best *gp
	for _, lp := range gridLenP {
		for _, lf := range gridLenF {
			for _, nz := range gridNoise {
				g := &gp{x: x, mean: mean, scale: scale, lenP: lp, lenF: lf, noise: nz}
				if err := g.factor(ys); err != nil {
					continue
				}
				if best == nil || g.logLikelihood > best.logLikelihood {
					best = g
				}
			}
		}
	}
	if best == nil {
		return nil, errors.New("gp: no kernel fits the data")
	}
	return best, nil
}

// kernel is the Matérn 5/2 covariance of two points.
func (g *gp) kernel(a, b []float64) float64 {
	r2 := 0.0
	for i := range a {
		l := g.lenP
		if i >= nParamDims {
			l = g.lenF
		}
		d := (a[i] - b[i]) / l
		r2 += d * d
	}
	r := math.Sqrt(5 * r2)
	return (1 + r + r*r/3) * math.Exp(-r)
}

// factor computes the Cholesky factor, alpha and the log marginal
// likelihood for standardized targets ys.
func (g *gp) factor(ys []float64) error {
	n := len(g.x)
	k := make([][]float64, n)
	for i := range k {
		k[i] = make([]float64, n)
		for j := 0; j <= i; j++ {
			k[i][j] = g.kernel(g.x[i], g.x[j])
		}
		k[i][i] += g.noise + 1e-9
	}
	l, err := cholesky(k)
	if err != nil {
		return err
	}
	g.chol = l
	g.alpha = cholSolve(l, ys)
	ll := -0.5 * float64(n) * math.Log(2*math.Pi)
	for i := range ys {
		ll -= 0.5 * ys[i] * g.alpha[i]
		ll -= math.Log(l[i][i])
	}
	g.logLikelihood = ll
	return nil
}

// predict returns the posterior mean and standard deviation at x, in the
// targets' units.
func (g *gp) predict(x []float64) (mu, sd float64) {
	n := len(g.x)
	ks := make([]float64, n)
	for i := range ks {
		ks[i] = g.kernel(g.x[i], x)
	}
	for i := range ks {
		mu += ks[i] * g.alpha[i]
	}
	v := forward(g.chol, ks)
	variance := 1.0
	for _, vi := range v {
		variance -= vi * vi
	}
	variance = math.Max(variance, 1e-12)
	return g.mean + g.scale*mu, g.scale * math.Sqrt(variance)
}

// cholesky factors a symmetric positive definite matrix (lower triangle
// given) as L·Lᵀ.
func cholesky(a [][]float64) ([][]float64, error) {
	n := len(a)
	l := make([][]float64, n)
	for i := range l {
		l[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := a[i][j]
			for k := 0; k < j; k++ {
				s -= l[i][k] * l[j][k]
			}
			if i == j {
				if s <= 0 || math.IsNaN(s) {
					return nil, errors.New("gp: matrix is not positive definite")
				}
				l[i][i] = math.Sqrt(s)
			} else {
				l[i][j] = s / l[j][j]
			}
		}
	}
	return l, nil
}

// forward solves L·v = b.
func forward(l [][]float64, b []float64) []float64 {
	v := make([]float64, len(b))
	for i := range b {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= l[i][k] * v[k]
		}
		v[i] = s / l[i][i]
	}
	return v
}

// cholSolve solves L·Lᵀ·x = b.
func cholSolve(l [][]float64, b []float64) []float64 {
	v := forward(l, b)
	n := len(v)
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := v[i]
		for k := i + 1; k < n; k++ {
			s -= l[k][i] * x[k]
		}
		x[i] = s / l[i][i]
	}
	return x
}

// expectedImprovement is the expected amount by which a point with
// posterior mean mu and deviation sd falls below best (minimising), less
// a margin xi.
func expectedImprovement(mu, sd, best, xi float64) float64 {
	if sd <= 0 {
		return math.Max(0, best-mu-xi)
	}
	z := (best - mu - xi) / sd
	return (best-mu-xi)*normCDF(z) + sd*normPDF(z)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
func normPDF(z float64) float64 { return math.Exp(-0.5*z*z) / math.Sqrt(2*math.Pi) }
