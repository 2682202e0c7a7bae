package tuning

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/model"
	"github.com/crucible-net/crucible/ml/train"
)

func TestTrainFullThenEvaluate(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", instructRows(150, 1))
	testPath := writeJSONL(t, dir, "test.jsonl", instructRows(40, 2))
	out := filepath.Join(dir, "out")
	var last Progress
	res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, OutDir: out, Budget: time.Minute, Seed: 1,
		Recipe: Recipe{LoRA: boolPtr(false), LR: 3e-3, Epochs: 3}}, func(p Progress) { last = p })
	if err != nil {
		t.Fatal(err)
	}
	if res.IsAdapter || res.TaskType != crucible.TaskInstruct || last.Fraction != 1 {
		t.Fatalf("result %+v, last progress %+v", res, last)
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "README.md", TrainingFile, "metrics.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("output lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(out + ".work"); !os.IsNotExist(err) {
		t.Errorf("checkpoint directory left behind: %v", err)
	}
	spec := EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, TestPath: testPath, Mapping: crucible.ColumnMapping{FieldInstruction: "instruction", FieldOutput: "output"}}
	b, err := Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.ModelDir = out
	r1, err := Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Failure != "" || !(r1.Loss < b.Loss-1) {
		t.Fatalf("tuned loss %.4f (failure %q), base %.4f", r1.Loss, r1.Failure, b.Loss)
	}
	if math.Float64bits(r1.Loss) != math.Float64bits(r2.Loss) || !slices.Equal(r1.Fingerprint, r2.Fingerprint) || len(r1.Fingerprint) != FingerprintDims {
		t.Fatalf("evaluations differ: %v %v", r1.Loss, r2.Loss)
	}
	if r1.Tokens == 0 || r1.Samples != 40 || math.Abs(r1.Perplexity-math.Exp(r1.Loss)) > 1e-9 {
		t.Fatalf("tokens %d samples %d perplexity %v", r1.Tokens, r1.Samples, r1.Perplexity)
	}
	// The logged validation loss matches what the saved model scores on
	// similar rows: both far below the base.
	if tr := res.Train; !(tr.ValLoss < tr.InitialValLoss-1) || math.Abs(tr.ValLoss-r1.Loss) > 0.5 {
		t.Fatalf("validation loss %.4f (from %.4f) vs test loss %.4f", tr.ValLoss, tr.InitialValLoss, r1.Loss)
	}
	// training.json records every choice with its reason.
	var rec struct {
		Choices []train.Choice `json:"choices"`
	}
	raw, _ := os.ReadFile(filepath.Join(out, TrainingFile))
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.Choices {
		if c.Reason == "" {
			t.Errorf("choice %s has no reason", c.Name)
		}
	}
	card, _ := os.ReadFile(filepath.Join(out, "README.md"))
	if !strings.Contains(string(card), res.DataSHA256) || !strings.Contains(string(card), "base_model:") {
		t.Errorf("model card lacks the data hash or base model:\n%s", card)
	}
}

func TestTrainAutomaticLoRAIsAPEFTAdapter(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", instructRows(120, 3))
	out := filepath.Join(dir, "adapter")
	res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, OutDir: out, Budget: time.Minute, Seed: 2,
		Recipe: Recipe{LoRA: boolPtr(true), Epochs: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsAdapter {
		t.Fatal("LoRA run did not write an adapter")
	}
	names := map[string]bool{}
	for _, c := range res.Choices {
		names[c.Name] = true
	}
	for _, want := range []string{"mode", "batch size", "learning rate", "steps", "validation examples"} {
		if !names[want] {
			t.Errorf("no automatic choice %q recorded: %v", want, res.Choices)
		}
	}
	for _, f := range []string{model.AdapterConfigFile, model.AdapterWeightsFile, "tokenizer.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("adapter lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err == nil {
		t.Error("adapter output holds a full model")
	}
	spec := EvalSpec{TaskType: crucible.TaskInstruct, BaseDir: base, ModelDir: out, TestPath: trainPath}
	r, err := Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	spec.ModelDir = ""
	b, err := Evaluate(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if r.Failure != "" || !r.IsAdapter || !(r.Loss < b.Loss) || len(r.Fingerprint) != FingerprintDims {
		t.Fatalf("adapter: %+v, base loss %.4f", r, b.Loss)
	}
}

func TestTrainDPO(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", dpoRows(150, 4))
	testPath := writeJSONL(t, dir, "test.jsonl", dpoRows(40, 5))
	out := filepath.Join(dir, "out")
	res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, TaskType: crucible.TaskDPO, OutDir: out, Budget: time.Minute, Seed: 3,
		Recipe: Recipe{LoRA: boolPtr(false), LR: 2e-3, Epochs: 2}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Train.RewardAccuracy <= res.Train.InitialRewardAccuracy {
		t.Fatalf("reward accuracy %.3f from %.3f", res.Train.RewardAccuracy, res.Train.InitialRewardAccuracy)
	}
	r, err := Evaluate(context.Background(), EvalSpec{TaskType: crucible.TaskDPO, BaseDir: base, ModelDir: out, TestPath: testPath})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failure != "" || !(r.Loss < math.Ln2-0.05) || r.RewardAccuracy < 0.8 || r.Samples != 40 {
		t.Fatalf("dpo evaluation %+v", r)
	}
}

func TestTrainMeetsTimeBudget(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", instructRows(400, 6))
	out := filepath.Join(dir, "out")
	// Training's clock is the real one until the fifth step is reported,
	// then the deadline: the run must stop there for its budget and still
	// write the model, however fast or slow this machine is (the real
	// deadline is an hour away).
	deadline := time.Now().Add(time.Hour)
	var late atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report := func(p Progress) {
		switch {
		case p.Step == 5:
			late.Store(int64(time.Until(deadline)))
		case p.Step > 5:
			cancel() // it missed the deadline: fail now, not in an hour
		}
	}
	res, err := Train(ctx, Spec{ModelDir: base, DataPath: trainPath, OutDir: out, Deadline: deadline, Seed: 4,
		Recipe: Recipe{LoRA: boolPtr(false), LR: 1e-3, Epochs: 1000},
		clock:  func() time.Time { return time.Now().Add(time.Duration(late.Load())) }}, report)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors")); err != nil {
		t.Fatal("no model written at the deadline")
	}
	if res.Train.StopReason != train.StopBudget || res.Train.Steps != 5 {
		t.Fatalf("stop reason %q after %d steps, want %q after 5", res.Train.StopReason, res.Train.Steps, train.StopBudget)
	}
}

func TestTrainBadInput(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	good := writeJSONL(t, dir, "train.jsonl", instructRows(50, 7))
	empty := writeJSONL(t, dir, "empty.jsonl", []map[string]any{{"instruction": "a", "output": ""}, {"instruction": "b", "output": " "}})
	full := filepath.Join(dir, "full")
	os.MkdirAll(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), []byte("x"), 0o644)
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	cases := []struct {
		name string
		spec Spec
		want string
	}{
		{"no usable rows", Spec{DataPath: empty, TaskType: crucible.TaskInstruct, OutDir: filepath.Join(dir, "o1"), Budget: time.Minute}, "no usable rows"},
		{"budget too small", Spec{DataPath: good, OutDir: filepath.Join(dir, "o2"), Budget: 50 * time.Millisecond}, "time budget"},
		{"output not empty", Spec{DataPath: good, OutDir: full, Budget: time.Minute}, "not empty (hint: name a new directory"},
		{"output is a file", Spec{DataPath: good, OutDir: notDir, Budget: time.Minute}, "output directory " + notDir + " is a file, not a directory"},
		{"no budget", Spec{DataPath: good, OutDir: filepath.Join(dir, "o3")}, "time budget"},
		{"unwritable output", Spec{DataPath: good, OutDir: filepath.Join(notDir, "out"), Budget: time.Minute}, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.spec.ModelDir = base
			_, err := Train(context.Background(), c.spec, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || crucible.ErrorCode(err) != crucible.EINVALID {
				t.Fatalf("got %v (code %s), want an EINVALID error containing %q", err, crucible.ErrorCode(err), c.want)
			}
			if _, err := os.Stat(c.spec.OutDir); c.spec.OutDir != full && c.spec.OutDir != notDir && err == nil {
				t.Fatal("a failed run left an output directory")
			}
		})
	}
}

func TestTrainChatAndText(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	var chats, texts []map[string]any
	for i, r := range instructRows(48, 9) {
		chats = append(chats, map[string]any{"conversations": []map[string]string{
			{"from": "human", "value": r["instruction"].(string)}, {"from": "gpt", "value": r["output"].(string)}}})
		// Long documents: windows of the 128-token context must cover them.
		doc := strings.Repeat(r["instruction"].(string)+" "+r["output"].(string)+" ", 10+i%3)
		texts = append(texts, map[string]any{"text": doc})
	}
	for _, c := range []struct {
		typ  crucible.TaskType
		rows []map[string]any
		m    *crucible.ColumnMapping
	}{
		{crucible.TaskChat, chats, &crucible.ColumnMapping{ChatColumn: "conversations", ChatRoleField: "from", ChatContentField: "value", ChatUserRole: "human", ChatAssistRole: "gpt"}},
		{crucible.TaskText, texts, nil},
	} {
		t.Run(string(c.typ), func(t *testing.T) {
			path := writeJSONL(t, dir, string(c.typ)+".jsonl", c.rows)
			out := filepath.Join(dir, string(c.typ)+"-out")
			res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: path, TaskType: c.typ, Mapping: c.m, OutDir: out, Budget: time.Minute, Seed: 5,
				Recipe: Recipe{LoRA: boolPtr(false), LR: 3e-3, Epochs: 2}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.TaskType != c.typ || !(res.Train.ValLoss < res.Train.InitialValLoss) {
				t.Fatalf("%s: type %s, validation loss %.4f from %.4f", c.typ, res.TaskType, res.Train.ValLoss, res.Train.InitialValLoss)
			}
			ev, err := Evaluate(context.Background(), EvalSpec{TaskType: c.typ, BaseDir: base, ModelDir: out, TestPath: path, Mapping: derefMapping(c.m)})
			if err != nil || ev.Failure != "" {
				t.Fatalf("evaluate: %v %+v", err, ev)
			}
			if c.typ == crucible.TaskText && ev.Samples <= len(c.rows) {
				t.Fatalf("long documents were not cut into windows: %d samples from %d rows", ev.Samples, len(c.rows))
			}
		})
	}
}

func derefMapping(m *crucible.ColumnMapping) crucible.ColumnMapping {
	if m == nil {
		return crucible.ColumnMapping{}
	}
	return *m
}

// On a compute budget a run does the budget's worth of modelled work
// (whatever the real clock says), and the same run twice is the same.
func TestTrainComputeBudget(t *testing.T) {
	base := tinyBase(t)
	dir := t.TempDir()
	trainPath := writeJSONL(t, dir, "train.jsonl", instructRows(120, 5))
	run := func(name string) *Result {
		res, err := Train(context.Background(), Spec{ModelDir: base, DataPath: trainPath, OutDir: filepath.Join(dir, name), Budget: 2 * time.Second,
			ComputeRate: 0.5, Seed: 1, Recipe: Recipe{LoRA: boolPtr(false), Epochs: 50}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b := run("a"), run("b")
	clock := ""
	for _, c := range a.Choices {
		if c.Name == "budget clock" {
			clock = fmt.Sprint(c.Value)
		}
	}
	if clock != "compute" || a.Train.StopReason != "time budget" || a.Train.ComputeTime > 2*time.Second || a.Train.ComputeTime < time.Second {
		t.Fatalf("budget clock %q, stop %q, compute %s", clock, a.Train.StopReason, a.Train.ComputeTime)
	}
	if a.Train.Steps != b.Train.Steps || a.Train.ValLoss != b.Train.ValLoss || a.Train.LR != b.Train.LR {
		t.Fatalf("two runs: %d steps val %v lr %g; %d steps val %v lr %g", a.Train.Steps, a.Train.ValLoss, a.Train.LR, b.Train.Steps, b.Train.ValLoss, b.Train.LR)
	}
}
