package validator_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/resultlog"
)

// A submission's training.json is published, summarised, with the task's
// results; a hostile one (not JSON, out of range, oversized, a directory)
// is left out and the submission is still evaluated and ranked.
func TestTrainingSummariesArePublished(t *testing.T) {
	n := newNetwork(t, "", nil)
	good := `{"recipe":{"name":"adaptive"},"settings":{"mode":"lora","lora_rank":16,"lora_alpha":32,"lr":0.0009,"epochs":2.5,` +
		`"batch_size":8,"grad_accum":2,"schedule":"linear","warmup_ratio":0.05,"min_lr_ratio":0,"weight_decay":0.01,"steps":120},` +
		`"tokenize":{"examples":1800,"tokens":40000},"data_sha256":"abc","duration_s":55.5}`
	write := func(body string) string {
		return trainer("0.7") + "cat > \"$CRUCIBLE_OUT_DIR/training.json\" <<'EOF'\n" + body + "\nEOF\n"
	}
	n.addMiner("5Good", write(good))
	n.addMiner("5NotJSON", strings.Replace(write("{not json"), "0.7", "0.71", 1))
	n.addMiner("5Range", strings.Replace(write(strings.Replace(good, `"lr":0.0009`, `"lr":1e300`, 1)), "0.7", "0.72", 1))
	n.addMiner("5Huge", trainer("0.8")+`head -c 300000 /dev/zero | tr '\0' ' ' > "$CRUCIBLE_OUT_DIR/training.json"`+"\n")
	n.addMiner("5Dir", trainer("0.9")+`mkdir "$CRUCIBLE_OUT_DIR/training.json"`+"\n")
	task := n.run(n.submit("facts.jsonl", 0.05).ID)
	if task.Status != crucible.StatusSuccess {
		t.Fatalf("status %s: %s", task.Status, task.Failure)
	}
	entries, err := n.store.FindResults(context.Background(), 0, 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("log: %v, %v", entries, err)
	}
	var tr resultlog.TaskResult
	if err := json.Unmarshal(entries[0].Payload, &tr); err != nil {
		t.Fatal(err)
	}
	if len(tr.Miners) != 5 {
		t.Fatalf("%d miners in the results", len(tr.Miners))
	}
	for _, m := range tr.Miners {
		if m.Failure != "" {
			t.Errorf("%s failed: %s (a bad training.json must not fail a submission)", m.Hotkey, m.Failure)
		}
		switch m.Hotkey {
		case "5Good":
			want := crucible.TrainingSummary{Strategy: "adaptive", Mode: "lora", LoRARank: 16, LoRAAlpha: 32, LR: 0.0009, Epochs: 2.5,
				BatchSize: 16, Schedule: "linear", WarmupRatio: 0.05, WeightDecay: 0.01, Steps: 120, Examples: 1800, Tokens: 40000,
				DataSHA256: "abc", Seconds: 55.5}
			if m.Training == nil || *m.Training != want {
				t.Errorf("published %+v, want %+v", m.Training, want)
			}
		default:
			if m.Training != nil {
				t.Errorf("%s's bad training.json was published: %+v", m.Hotkey, m.Training)
			}
		}
	}
	events, _ := n.store.FindEvents(context.Background(), crucible.EventFilter{TaskID: task.ID})
	said := map[string]bool{}
	for _, e := range events {
		if strings.HasPrefix(e.Message, "training.json is not published") {
			said[e.Hotkey] = true
		}
	}
	for _, h := range []string{"5NotJSON", "5Range", "5Huge"} {
		if !said[h] {
			t.Errorf("no event says why %s's training.json is not published", h)
		}
	}
}

func TestParseTrainingFile(t *testing.T) {
	for name, body := range map[string]string{
		"no settings": `{"recipe":{"name":"x"}}`,
		"bad mode":    `{"settings":{"mode":"half","lr":0.1,"batch_size":1}}`,
		"bad name":    `{"recipe":{"name":"a\u0000b"},"settings":{"mode":"full","lr":0.1,"batch_size":1}}`,
		"batch":       `{"settings":{"mode":"full","lr":0.1,"batch_size":-4}}`,
	} {
		if _, err := crucible.ParseTrainingFile([]byte(body)); crucible.ErrorCode(err) != crucible.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	s, err := crucible.ParseTrainingFile([]byte(`{"settings":{"mode":"full","lora_rank":8,"lr":0.001,"epochs":3,"batch_size":4,"grad_accum":4}}`))
	if err != nil || s.BatchSize != 16 || s.LoRARank != 0 {
		t.Errorf("%+v, %v", s, err)
	}
}
