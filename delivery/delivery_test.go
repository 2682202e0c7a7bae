package delivery_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/delivery"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/safetensors"
	"github.com/crucible-net/crucible/ml/tensor"
	"github.com/crucible-net/crucible/node/localnet"
)

// base writes the tiny test model with its weights stored as dt.
func base(t *testing.T, dt tensor.DType) string {
	t.Helper()
	dir, err := localnet.TinyModel(t.TempDir(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if dt != tensor.F32 {
		m, err := model.Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SaveAs(dir, dt); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// adapter writes a LoRA adapter over baseDir with random (non-zero)
// matrices, as a tar, and returns the tar's bytes.
func adapter(t *testing.T, baseDir string) []byte {
	t.Helper()
	m, err := model.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.AddLoRA(model.LoRAConfig{Rank: 4, Alpha: 8, TargetModules: model.DefaultLoRATargets(m.Config()), BaseModel: "/somewhere/on/the/miner"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range l.Params() {
		l.Params()[i] = float32(rng.NormFloat64() * 0.05)
	}
	dir := t.TempDir()
	if err := m.SaveAdapter(dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "training.json"), []byte(`{"choices":[{"name":"lora_rank","value":4,"reason":"small model"}]}`), 0o644)
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// unpack checks that every entry of the archive is inside folder and
// unpacks it, returning folder's path.
func unpack(t *testing.T, b []byte, folder string) string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != folder+"/" && !strings.HasPrefix(h.Name, folder+"/") {
			t.Fatalf("archive entry %q is outside the folder %s", h.Name, folder)
		}
	}
	dir := t.TempDir()
	if _, err := api.ExtractTar(bytes.NewReader(b), dir, api.ExtractLimits{}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, folder)
}

func card() delivery.Card {
	loss, baseLoss := 2.0, 4.0
	return delivery.Card{TaskID: "0a1b2c3d", Type: crucible.TaskInstruct, BaseModel: "crucible-tiny", Dataset: "facts.jsonl",
		TrainRows: 180, TestRows: 20, Hours: 0.05, Miner: "5Miner", TestLoss: &loss, BaseLoss: &baseLoss}
}

func logits(t *testing.T, m *model.Model) []float32 {
	t.Helper()
	toks := []int32{1, 17, 99, 4, 250, 3, 77, 12}
	out, err := m.Logits(model.Batch{Tokens: toks, B: 1, T: len(toks)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maxDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestAdapterDelivery delivers a LoRA winner as it is and merged: the
// adapter names the base the customer used, the merged model computes what
// base + adapter compute, both sit in one top-level folder, and the card
// says what the model is.
func TestAdapterDelivery(t *testing.T) {
	baseDir := base(t, tensor.F32)
	result := adapter(t, baseDir)
	ctx := context.Background()

	var plain bytes.Buffer
	if err := delivery.Package(ctx, delivery.Spec{Result: bytes.NewReader(result), BaseDir: baseDir, Card: card()}, &plain); err != nil {
		t.Fatal(err)
	}
	dir := unpack(t, plain.Bytes(), "crucible-0a1b2c3d")
	var ac map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, model.AdapterConfigFile))
	json.Unmarshal(b, &ac)
	if ac["base_model_name_or_path"] != "crucible-tiny" || ac["r"] != 4.0 {
		t.Errorf("adapter_config: %v", ac)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	for _, want := range []string{`base_model: "crucible-tiny"`, "library_name: peft", "facts.jsonl", "test loss | 2.0000 (the base model: 4.0000, 50.0% lower)",
		"lora_rank = 4 (small model)", "--merged"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("model card lacks %q:\n%s", want, readme)
		}
	}

	var merged bytes.Buffer
	if err := delivery.Package(ctx, delivery.Spec{Result: bytes.NewReader(result), BaseDir: baseDir, Merged: true, Card: card()}, &merged); err != nil {
		t.Fatal(err)
	}
	mdir := unpack(t, merged.Bytes(), "crucible-0a1b2c3d-merged")
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "training.json", "README.md"} {
		if _, err := os.Stat(filepath.Join(mdir, f)); err != nil {
			t.Errorf("merged delivery lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(mdir, model.AdapterConfigFile)); err == nil {
		t.Error("merged delivery still has the adapter config")
	}
	want, err := model.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	baseLogits := logits(t, want)
	if err := want.LoadAdapter(dir); err != nil {
		t.Fatal(err)
	}
	got, err := model.Load(mdir)
	if err != nil {
		t.Fatal(err)
	}
	wantLogits, gotLogits := logits(t, want), logits(t, got)
	if d := maxDiff(wantLogits, gotLogits); d > 1e-4 {
		t.Errorf("merged model's logits differ from base + adapter's by %g", d)
	}
	if d := maxDiff(baseLogits, gotLogits); d < 1e-3 {
		t.Errorf("the adapter changes nothing (%g): the test proves nothing", d)
	}
}

// TestDeliveryInBaseDType checks that full models (a full fine-tune
// uploaded in float32, and a merged adapter) are delivered in the base's
// dtype, bfloat16 here, with config.json saying so.
func TestDeliveryInBaseDType(t *testing.T) {
	baseDir := base(t, tensor.BF16)
	m, err := model.Load(baseDir)
	if err != nil {
		t.Fatal(err)
	}
	full := t.TempDir()
	if err := m.Save(full); err != nil { // float32, as trainers write it
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := api.WriteTar(&buf, full); err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]delivery.Spec{
		"full":   {Result: bytes.NewReader(buf.Bytes()), BaseDir: baseDir, Card: card()},
		"merged": {Result: bytes.NewReader(adapter(t, baseDir)), BaseDir: baseDir, Merged: true, Card: card()},
	} {
		var out bytes.Buffer
		if err := delivery.Package(context.Background(), spec, &out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		folder := "crucible-0a1b2c3d"
		if name == "merged" {
			folder += "-merged"
		}
		dir := unpack(t, out.Bytes(), folder)
		if dt, err := delivery.BaseDType(dir); err != nil || dt != tensor.BF16 {
			t.Errorf("%s: weights stored as %v (%v), want BF16", name, dt, err)
		}
		var cfg map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
		json.Unmarshal(b, &cfg)
		if cfg["torch_dtype"] != "bfloat16" {
			t.Errorf("%s: torch_dtype %v", name, cfg["torch_dtype"])
		}
		if _, err := safetensors.OpenDir(dir); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestDeliveryRefusesBadResults checks that a result that is neither a
// model nor an adapter, or an adapter over another model, is refused.
func TestDeliveryRefusesBadResults(t *testing.T) {
	baseDir := base(t, tensor.F32)
	junk := t.TempDir()
	os.WriteFile(filepath.Join(junk, "notes.txt"), []byte("hello"), 0o644)
	var buf bytes.Buffer
	api.WriteTar(&buf, junk)
	err := delivery.Package(context.Background(), delivery.Spec{Result: &buf, BaseDir: baseDir, Card: card()}, io.Discard)
	if crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("junk result: %v", err)
	}
	// An adapter trained over a different architecture does not merge.
	other, err := model.New(model.NewLlamaConfig(48, 96, 3, 3, 1, 4096, 128), 1)
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	other.Save(otherDir)
	foreign := adapter(t, otherDir)
	err = delivery.Package(context.Background(), delivery.Spec{Result: bytes.NewReader(foreign), BaseDir: baseDir, Merged: true, Card: card()}, io.Discard)
	if crucible.ErrorCode(err) != crucible.EINVALID {
		t.Errorf("foreign adapter: %v", err)
	}
}
