package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/optim"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// The base model's shape: a Llama with tied embeddings and grouped-query
// attention, small enough to pretrain on two CPU cores in under an hour
// and to fine-tune in minutes.
const (
	modelName     = "crucible-tiny"
	modelHidden   = 256
	modelInter    = 704
	modelLayers   = 6
	modelHeads    = 4
	modelKVHeads  = 2
	modelContext  = 256
	pretrainBatch = 8 // sequences of modelContext tokens per step
	pretrainLR    = 2e-3
	warmupSteps   = 50
	// valWindows is how many fixed validation windows are scored at each
	// checkpoint.
	valWindows = 64
	// checkpointEvery is the wall-clock interval between checkpoints.
	checkpointEvery = 4 * time.Minute
)

func modelDir(o options) string { return filepath.Join(o.out, "models", modelName) }

// newBaseConfig returns the base model's config for a tokenizer.
func newBaseConfig(tok *tokenizer.Tokenizer) model.Config {
	cfg := model.NewLlamaConfig(modelHidden, modelInter, modelLayers, modelHeads, modelKVHeads, tok.VocabSize(), modelContext)
	cfg.TieEmbeddings = true
	cfg.BOS = tok.BOSID()
	cfg.EOS = []int{tok.EOSID()}
	if id, ok := tok.TokenID("<|im_end|>"); ok {
		cfg.EOS = append(cfg.EOS, id)
	}
	return cfg
}

// tokenStream encodes documents into one stream of uint16 ids, each
// document followed by EOS, on all cores. It is cached beside the corpus.
func tokenStream(tok *tokenizer.Tokenizer, docs []doc, cache string) ([]uint16, error) {
	if b, err := os.ReadFile(cache); err == nil && len(b)%2 == 0 {
		out := make([]uint16, len(b)/2)
		for i := range out {
			out[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		return out, nil
	}
	parts := make([][]int, len(docs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				parts[i] = tok.EncodeOrdinary(docs[i].Text)
			}
		}()
	}
	for i := range docs {
		next <- i
	}
	close(next)
	wg.Wait()
	var out []uint16
	eos := tok.EOSID()
	for _, p := range parts {
		for _, id := range p {
			if id < 0 || id > math.MaxUint16 {
				return nil, fmt.Errorf("token id %d does not fit 16 bits", id)
			}
			out = append(out, uint16(id))
		}
		out = append(out, uint16(eos))
	}
	b := make([]byte, 2*len(out))
	for i, v := range out {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	if err := os.WriteFile(cache, b, 0o644); err != nil {
		return nil, err
	}
	return out, nil
}

// window fills a batch row with stream[start:start+T] and its shifted labels.
func window(stream []uint16, start, T int, tokens, labels []int32) {
	for i := range T {
		tokens[i] = int32(stream[start+i])
		labels[i] = int32(stream[start+i+1])
	}
}

// pretrainLog is the record of a pretraining run, written beside the model.
type pretrainLog struct {
	Steps        int       `json:"steps"`
	Tokens       int64     `json:"train_tokens"`
	Seconds      float64   `json:"seconds"`
	ValLoss      float64   `json:"val_loss"`
	ValTokens    int       `json:"val_tokens"`
	TrainLoss    float64   `json:"train_loss_last_50"`
	CorpusTokens int       `json:"corpus_train_tokens"`
	Params       int       `json:"params"`
	Threads      int       `json:"threads"`
	Curve        []curvePt `json:"curve"`
}

type curvePt struct {
	Step    int     `json:"step"`
	Tokens  int64   `json:"tokens"`
	Minutes float64 `json:"minutes"`
	Train   float64 `json:"train_loss"`
	Val     float64 `json:"val_loss"`
}

// pretrain trains the base model from scratch on the corpus for o.minutes
// of wall-clock time: AdamW, linear warmup then cosine decay over the time
// budget (so the schedule ends when time does, whatever the machine's
// speed), gradient clipping at 1. It checkpoints the model (BF16) to
// assets/models/crucible-tiny every few minutes, so a stopped run leaves a
// usable model.
func pretrain(o options) error {
	setThreads(o)
	tok, err := tokenizer.Load(tokenizerDir(o))
	if err != nil {
		return fmt.Errorf("load tokenizer (run the tokenizer step first): %w", err)
	}
	trainDocs, err := readDocs(filepath.Join(corpusDir(o), "train.jsonl"))
	if err != nil {
		return err
	}
	valDocs, err := readDocs(filepath.Join(corpusDir(o), "val.jsonl"))
	if err != nil {
		return err
	}
	t0 := time.Now()
	train, err := tokenStream(tok, trainDocs, filepath.Join(corpusDir(o), "train.u16"))
	if err != nil {
		return err
	}
	val, err := tokenStream(tok, valDocs, filepath.Join(corpusDir(o), "val.u16"))
	if err != nil {
		return err
	}
	fmt.Printf("corpus: %d train tokens, %d validation tokens (tokenized in %s)\n", len(train), len(val), time.Since(t0).Round(time.Millisecond))

	cfg := newBaseConfig(tok)
	m, err := model.New(cfg, o.seed)
	if err != nil {
		return err
	}
	m.SetTrainBase(true)
	fmt.Printf("model: %s, %d parameters\n", cfg.String(), m.NumParams())
	params := m.TrainableParams()
	opt := optim.NewAdamW(params, optim.AdamWConfig{LR: pretrainLR, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1})

	T, B := modelContext, pretrainBatch
	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	batch := model.Batch{Tokens: make([]int32, B*T), Labels: make([]int32, B*T), B: B, T: T}

	// Fixed validation windows, evenly spaced through the held-out stream.
	nv := min(valWindows, (len(val)-1)/T)
	vb := model.Batch{Tokens: make([]int32, nv*T), Labels: make([]int32, nv*T), B: nv, T: T}
	for i := range nv {
		start := i * ((len(val) - T - 1) / nv)
		window(val, start, T, vb.Tokens[i*T:(i+1)*T], vb.Labels[i*T:(i+1)*T])
	}
	valLoss := func() (float64, error) {
		var sum float64
		var count int
		for i := 0; i < nv; i += 8 {
			j := min(i+8, nv)
			l, err := m.Evaluate(model.Batch{Tokens: vb.Tokens[i*T : j*T], Labels: vb.Labels[i*T : j*T], B: j - i, T: T}, nil, nil)
			if err != nil {
				return 0, err
			}
			sum += l.Sum
			count += l.Count
		}
		return sum / float64(count), nil
	}

	budget := time.Duration(o.minutes * float64(time.Minute))
	start := time.Now()
	lastCkpt := start
	log := pretrainLog{CorpusTokens: len(train), Params: m.NumParams(), Threads: runtime.GOMAXPROCS(0)}
	var recent []float64
	checkpoint := func(step int) error {
		vl, err := valLoss()
		if err != nil {
			return err
		}
		el := time.Since(start)
		log.Steps, log.Tokens, log.Seconds, log.ValLoss, log.ValTokens = step, int64(step)*int64(B*T), el.Seconds(), vl, nv*T
		log.TrainLoss = mean(recent)
		log.Curve = append(log.Curve, curvePt{Step: step, Tokens: log.Tokens, Minutes: el.Minutes(), Train: log.TrainLoss, Val: vl})
		fmt.Printf("checkpoint step %d: %d tokens, %.1f min, train %.4f, val %.4f\n", step, log.Tokens, el.Minutes(), log.TrainLoss, vl)
		return saveBaseModel(o, m, tok, log)
	}
	for step := 0; ; step++ {
		el := time.Since(start)
		if el >= budget {
			return checkpoint(step)
		}
		if time.Since(lastCkpt) >= checkpointEvery {
			if err := checkpoint(step); err != nil {
				return err
			}
			lastCkpt = time.Now()
		}
		lr := pretrainLR
		if step < warmupSteps {
			lr *= float64(step+1) / warmupSteps
		} else {
			p := min(1, el.Seconds()/budget.Seconds())
			lr *= 0.1 + 0.9*0.5*(1+math.Cos(math.Pi*p))
		}
		for b := range B {
			s := rng.IntN(len(train) - T - 1)
			window(train, s, T, batch.Tokens[b*T:(b+1)*T], batch.Labels[b*T:(b+1)*T])
		}
		m.ZeroGrads()
		loss, err := m.ForwardBackward(batch, 0)
		if err != nil {
			return err
		}
		norm := optim.ClipGradNorm(params, 1)
		if math.IsNaN(norm) || math.IsInf(norm, 0) {
			return fmt.Errorf("step %d: gradient norm %v", step, norm)
		}
		opt.Step(lr)
		recent = append(recent, loss.Mean())
		if len(recent) > 50 {
			recent = recent[1:]
		}
		if step%10 == 0 {
			fmt.Printf("step %d  loss %.4f  lr %.2e  norm %.2f  %.1f tok/s  %.1f min\n", step, loss.Mean(), lr, norm,
				float64((step+1)*B*T)/time.Since(start).Seconds(), time.Since(start).Minutes())
		}
	}
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// saveBaseModel writes the model in Hugging Face layout with BF16 weights,
// the tokenizer beside it and the pretraining record, into a fresh
// directory that then replaces assets/models/crucible-tiny.
func saveBaseModel(o options, m *model.Model, tok *tokenizer.Tokenizer, log pretrainLog) error {
	dir := modelDir(o)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	m.Generation.MaxNewTokens = 64
	if err := m.Save(tmp); err != nil {
		return err
	}
	var tensors []safetensors.Tensor
	for _, p := range m.ParamInfos() {
		tensors = append(tensors, safetensors.Tensor{Name: p.Name, DType: tensor.BF16, Shape: p.Shape, Data: m.Param(p.Name)})
	}
	if err := safetensors.WriteDir(tmp, tensors, map[string]string{"format": "pt"}, 0); err != nil {
		return err
	}
	// config.json: the weights are bfloat16 now.
	cpath := filepath.Join(tmp, "config.json")
	b, err := os.ReadFile(cpath)
	if err != nil {
		return err
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	c["torch_dtype"] = "bfloat16"
	if b, err = json.MarshalIndent(c, "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(cpath, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := tok.Save(tmp); err != nil {
		return err
	}
	if b, err = json.MarshalIndent(log, "", "  "); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "pretrain_log.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	// Keep the model card if one was written.
	if card, err := os.ReadFile(filepath.Join(dir, "README.md")); err == nil {
		if err := os.WriteFile(filepath.Join(tmp, "README.md"), card, 0o644); err != nil {
			return err
		}
	}
	// Files written through temporary files are private; the assets are not.
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(tmp, e.Name()), 0o644); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}
