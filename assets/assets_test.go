package assets

import (
	"errors"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/data"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// The shipped base model's shape (tools/assets/pretrain.go).
const (
	wantParams = 5_475_584
	wantVocab  = 4096
)

func TestBaseModel(t *testing.T) {
	dir, err := Extract(BaseModel, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config()
	got := []int{c.Hidden, c.Intermediate, c.Layers, c.Heads, c.KVHeads, c.HeadDim, c.Vocab, c.MaxPositions}
	if want := []int{256, 704, 6, 4, 2, 64, wantVocab, 256}; !reflect.DeepEqual(got, want) {
		t.Errorf("hidden, intermediate, layers, heads, kv heads, head dim, vocab, context = %v, want %v", got, want)
	}
	if c.Architecture != "LlamaForCausalLM" || !c.TieEmbeddings {
		t.Errorf("architecture %s, tied %v", c.Architecture, c.TieEmbeddings)
	}
	if n := m.NumParams(); n != wantParams {
		t.Errorf("%d parameters, want %d", n, wantParams)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != c.Vocab || c.BOS != tok.BOSID() || c.EOS[0] != tok.EOSID() {
		t.Errorf("tokenizer vocab %d, BOS %d, EOS %d; model vocab %d, BOS %d, EOS %v", tok.VocabSize(), tok.BOSID(), tok.EOSID(), c.Vocab, c.BOS, c.EOS)
	}

	// The weights are trained: English from the held-out style of the
	// corpus scores far better than a uniform guess (ln 4096 ≈ 8.3).
	ids := tok.EncodeOrdinary("It was the best of times. The house was large, and the family had lived there for many years; but the estate had been sold, and the people of the village were sorry to see them go.")
	b := model.Batch{Tokens: make([]int32, len(ids)-1), Labels: make([]int32, len(ids)-1), B: 1, T: len(ids) - 1}
	for i := range b.T {
		b.Tokens[i], b.Labels[i] = int32(ids[i]), int32(ids[i+1])
	}
	loss, err := m.Evaluate(b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := loss.Mean(); !(l < 6) || math.IsNaN(l) {
		t.Errorf("loss on plain English %.3f, want < 6 (untrained weights give about 8.3)", l)
	}
}

func TestTokenizer(t *testing.T) {
	dir, err := Extract(Tokenizer, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != wantVocab {
		t.Errorf("vocab %d, want %d", tok.VocabSize(), wantVocab)
	}
	for _, s := range []string{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} {
		if _, ok := tok.TokenID(s); !ok {
			t.Errorf("no special token %s", s)
		}
	}
	text := "What is the capital of Iceland? Reykjavík. 🙂"
	if got := tok.Decode(tok.Encode(text)); got != text {
		t.Errorf("round trip %q", got)
	}
	chat, err := tok.ApplyChatTemplate([]tokenizer.Message{{Role: "user", Content: "Hi"}}, true)
	if err != nil || chat != "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("chat template: %q, %v", chat, err)
	}
	// The model directory carries the same tokenizer.
	mdir, err := Extract(BaseModel, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	mt, err := tokenizer.Load(mdir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(mt.Encode(text+chat), tok.Encode(text+chat)) {
		t.Error("the model's tokenizer differs from assets/tokenizer")
	}
}

// readAll reads every row of a dataset file with package data.
func readAll(t *testing.T, path string) []map[string]any {
	t.Helper()
	r, err := data.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var rows []map[string]any
	for {
		row, err := r.Next()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, row.Values)
	}
}

func TestDatasets(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		jsonl, parquet string
		typ            crucible.TaskType
		columns        []string
	}{
		{Facts, FactsParquet, crucible.TaskInstruct, []string{"instruction", "output"}},
		{Definitions, DefinitionsParquet, crucible.TaskInstruct, []string{"instruction", "output"}},
		{FactsDPO, FactsDPOParquet, crucible.TaskDPO, []string{"chosen", "prompt", "rejected"}},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.jsonl), func(t *testing.T) {
			jp, err := Extract(tc.jsonl, dir)
			if err != nil {
				t.Fatal(err)
			}
			pp, err := Extract(tc.parquet, dir)
			if err != nil {
				t.Fatal(err)
			}
			rows := readAll(t, jp)
			// crucible's validator keeps a test split only from 2000 rows up;
			// the demo must fine-tune in minutes, so not many more.
			if len(rows) < data.DefaultMinRows || len(rows) > 3000 {
				t.Errorf("%d rows, want %d to 3000", len(rows), data.DefaultMinRows)
			}
			for i, r := range rows {
				if len(r) != len(tc.columns) {
					t.Fatalf("row %d has columns %v, want %v", i+1, r, tc.columns)
				}
				for _, c := range tc.columns {
					if s, ok := r[c].(string); !ok || s == "" {
						t.Fatalf("row %d: column %s = %v", i+1, c, r[c])
					}
				}
			}
			if prows := readAll(t, pp); !reflect.DeepEqual(prows, rows) {
				t.Errorf("the Parquet copy differs from the JSON Lines file (%d vs %d rows)", len(prows), len(rows))
			}
			det, err := data.DetectFile(jp, data.DefaultDetectSample)
			if err != nil {
				t.Fatal(err)
			}
			if det.Type != tc.typ {
				t.Errorf("detected %s, want %s (%s)", det.Type, tc.typ, det.Reason)
			}
		})
	}
}

func TestExtractUnknown(t *testing.T) {
	if _, err := Extract("models/no-such-model", t.TempDir()); err == nil {
		t.Fatal("extracting a missing asset: no error")
	}
}
