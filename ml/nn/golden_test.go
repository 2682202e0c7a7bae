package nn

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Golden values from PyTorch, made by tools/goldens/nn/gen.py.

func loadGolden(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("testdata/%s.json: %v", name, err)
	}
}

func to32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}

func TestGoldenRoPELlama3(t *testing.T) {
	var g struct {
		HeadDim int     `json:"head_dim"`
		Theta   float64 `json:"theta"`
		Scaling struct {
			Factor  float64 `json:"factor"`
			Low     float64 `json:"low_freq_factor"`
			High    float64 `json:"high_freq_factor"`
			OrigMax int     `json:"original_max_position_embeddings"`
		} `json:"scaling"`
		B, T, NH, NKV              int
		Start                      []int     `json:"start"`
		InvFreq                    []float64 `json:"inv_freq"`
		TablePos                   []int     `json:"table_pos"`
		Cos, Sin, Q, K, QOut, KOut []float64
	}
	loadGolden(t, "rope_llama3", &g)
	rp, err := NewRoPE(g.HeadDim, 20001, g.Theta, &RoPEScaling{Type: "llama3", Factor: g.Scaling.Factor,
		LowFreqFactor: g.Scaling.Low, HighFreqFactor: g.Scaling.High, OriginalMaxPositionEmbeddings: g.Scaling.OrigMax})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range g.InvFreq {
		if got := rp.InvFreq()[i]; got != float32(want) {
			t.Errorf("inv_freq[%d] = %v, transformers has %v", i, got, float32(want))
		}
	}
	h := g.HeadDim / 2
	for pi, p := range g.TablePos {
		c, s := rp.CosSin(p)
		if e := maxAbsErr(c, g.Cos[pi*h:(pi+1)*h]); e > 2e-6 {
			t.Errorf("cos at position %d: max error %.3g", p, e)
		}
		if e := maxAbsErr(s, g.Sin[pi*h:(pi+1)*h]); e > 2e-6 {
			t.Errorf("sin at position %d: max error %.3g", p, e)
		}
	}
	q := to32(g.Q)
	rp.Forward(q, q, g.B, g.T, g.NH, 0, g.Start)
	if e := maxAbsErr(q, g.QOut); e > 5e-6 {
		t.Errorf("q: max error %.3g", e)
	}
	k := to32(g.K)
	rp.Forward(k, k, g.B, g.T, g.NKV, 0, g.Start)
	if e := maxAbsErr(k, g.KOut); e > 5e-6 {
		t.Errorf("k: max error %.3g", e)
	}
}

func TestGoldenAttentionGQA(t *testing.T) {
	var g struct {
		B, T, NH, NKV, D               int
		Q, K, V, Dout, Out, Dq, Dk, Dv []float64
	}
	loadGolden(t, "attention_gqa", &g)
	s := AttnShape{B: g.B, T: g.T, NH: g.NH, NKV: g.NKV, D: g.D}
	q, k, v := to32(g.Q), to32(g.K), to32(g.V)
	out := make([]float32, len(q))
	lse := make([]float32, s.SavedSize())
	scratch := make([]float32, s.ScratchSize())
	AttentionForward(s, out, lse, q, k, v, scratch)
	if e := maxAbsErr(out, g.Out); e > 1e-5 {
		t.Errorf("out: max error %.3g", e)
	}
	dq, dk, dv := make([]float32, len(q)), make([]float32, len(k)), make([]float32, len(v))
	AttentionBackward(s, dq, dk, dv, to32(g.Dout), q, k, v, out, lse, scratch)
	for _, c := range []struct {
		name string
		got  []float32
		want []float64
	}{{"dq", dq, g.Dq}, {"dk", dk, g.Dk}, {"dv", dv, g.Dv}} {
		if e := maxAbsErr(c.got, c.want); e > 2e-5 {
			t.Errorf("%s: max error %.3g", c.name, e)
		}
	}
}

func TestGoldenNorms(t *testing.T) {
	var ln struct {
		N, C                           int
		Eps                            float64
		X, W, B, Dout, Out, Dx, Dw, Db []float64
	}
	loadGolden(t, "layernorm", &ln)
	x, w, b := to32(ln.X), to32(ln.W), to32(ln.B)
	out, mean, rstd := make([]float32, len(x)), make([]float32, ln.N), make([]float32, ln.N)
	LayerNormForward(out, mean, rstd, x, w, b, ln.N, ln.C, float32(ln.Eps))
	if e := maxAbsErr(out, ln.Out); e > 1e-5 {
		t.Errorf("layernorm out: max error %.3g", e)
	}
	dx, dw, db := make([]float32, len(x)), make([]float32, ln.C), make([]float32, ln.C)
	LayerNormBackward(dx, dw, db, to32(ln.Dout), x, w, mean, rstd, ln.N, ln.C)
	for _, c := range []struct {
		name string
		got  []float32
		want []float64
	}{{"dx", dx, ln.Dx}, {"dw", dw, ln.Dw}, {"db", db, ln.Db}} {
		if e := maxAbsErr(c.got, c.want); e > 2e-5 {
			t.Errorf("layernorm %s: max error %.3g", c.name, e)
		}
	}

	var rn struct {
		N, C                    int
		Eps                     float64
		X, W, Dout, Out, Dx, Dw []float64
	}
	loadGolden(t, "rmsnorm", &rn)
	x, w = to32(rn.X), to32(rn.W)
	RMSNormForward(out, rstd, x, w, rn.N, rn.C, float32(rn.Eps))
	if e := maxAbsErr(out, rn.Out); e > 1e-5 {
		t.Errorf("rmsnorm out: max error %.3g", e)
	}
	dx, dw = make([]float32, len(x)), make([]float32, rn.C)
	RMSNormBackward(dx, dw, to32(rn.Dout), x, w, rstd, rn.N, rn.C)
	if e := maxAbsErr(dx, rn.Dx); e > 2e-5 {
		t.Errorf("rmsnorm dx: max error %.3g", e)
	}
	if e := maxAbsErr(dw, rn.Dw); e > 2e-5 {
		t.Errorf("rmsnorm dw: max error %.3g", e)
	}
}

func TestGoldenGELU(t *testing.T) {
	var g struct{ X, Dout, Out, Dx []float64 }
	loadGolden(t, "gelu_tanh", &g)
	x := to32(g.X)
	out, dx := make([]float32, len(x)), make([]float32, len(x))
	GELUForward(out, x)
	GELUBackward(dx, to32(g.Dout), x)
	if e := maxAbsErr(out, g.Out); e > 2e-6 {
		t.Errorf("out: max error %.3g", e)
	}
	if e := maxAbsErr(dx, g.Dx); e > 2e-6 {
		t.Errorf("dx: max error %.3g", e)
	}
}

func TestGoldenCrossEntropy(t *testing.T) {
	var g struct {
		N, V        int
		Logits      []float64
		Targets     []int32
		RowLoss     []float64 `json:"row_loss"`
		Mean        float64
		DlogitsMean []float64 `json:"dlogits_mean"`
	}
	loadGolden(t, "cross_entropy", &g)
	logits := to32(g.Logits)
	count := CountTargets(g.Targets)
	dl := make([]float32, len(logits))
	rowLoss := make([]float64, g.N)
	sum, got, err := CrossEntropy(logits, g.Targets, g.N, g.V, 1/float32(count), nil, dl, rowLoss)
	if err != nil {
		t.Fatal(err)
	}
	if got != count || count != 4 {
		t.Fatalf("count %d, CountTargets %d, want 4", got, count)
	}
	if mean := sum / float64(count); mean-g.Mean > 1e-6 || g.Mean-mean > 1e-6 {
		t.Errorf("mean loss %v, torch has %v", mean, g.Mean)
	}
	for i, want := range g.RowLoss {
		if d := rowLoss[i] - want; d > 1e-5 || d < -1e-5 {
			t.Errorf("row %d loss %v, torch has %v", i, rowLoss[i], want)
		}
	}
	if e := maxAbsErr(dl, g.DlogitsMean); e > 1e-6 {
		t.Errorf("dlogits: max error %.3g", e)
	}
}
