package validator_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crucible-net/crucible/api"
	"github.com/crucible-net/crucible/crucible"
)

func TestTaskLifecycleWinner(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Good", trainer("0.8"))
	n.addMiner("5Better", trainer("0.6"))
	n.addMiner("5Worse", trainer("1.9"))
	task := n.run(n.submit("facts.jsonl", 0.05).ID)
	if task.Status != crucible.StatusSuccess {
		t.Fatalf("status %s: %s", task.Status, task.Failure)
	}
	if task.Winner != "5Better" || task.ResultModel == "" {
		t.Errorf("winner %q result %q", task.Winner, task.ResultModel)
	}
	rec, err := n.store.FindEvaluation(context.Background(), task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if task.TrainRows != 36 || task.TestRows != 4 || rec.BaseLoss == nil || *rec.BaseLoss != 2.5 || rec.ScoredAt == nil ||
		rec.SplitMapping == nil || rec.SplitMapping.FieldInstruction != "instruction" || rec.Honeypot != nil {
		t.Errorf("split %d/%d, evaluation record %+v", task.TrainRows, task.TestRows, rec)
	}
	subs := n.subs(task.ID)
	for h, want := range map[string]float64{"5Better": 3, "5Good": 0, "5Worse": 0} {
		s := subs[h]
		if s == nil || s.QualityScore == nil || *s.QualityScore != want || s.ResultSHA256 == "" {
			t.Errorf("%s: %+v", h, s)
		}
	}
	scores, _ := n.store.FindScoresSince(context.Background(), time.Now().Add(-time.Hour))
	if len(scores) != 3 {
		t.Errorf("%d scores stored", len(scores))
	}
	// The history tells the story.
	events, _ := n.store.FindEvents(context.Background(), crucible.EventFilter{TaskID: task.ID})
	var statuses []string
	for _, e := range events {
		if e.Kind == crucible.EventStatus {
			statuses = append(statuses, string(e.ToStatus))
		}
	}
	want := "pending preparing_data looking_for_nodes ready training preevaluation evaluating success"
	if got := strings.Join(statuses, " "); got != want {
		t.Errorf("status history:\n got %s\nwant %s", got, want)
	}
}

func TestMinerCrashMidTraining(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Steady", trainer("1.1"))
	n.addMiner("5Crashes", "echo 'CRUCIBLE_PROGRESS {\"fraction\":0.3}'; kill -9 $$")
	task := n.run(n.submit("facts.jsonl", 15.0/3600).ID)
	if task.Status != crucible.StatusSuccess || task.Winner != "5Steady" {
		t.Fatalf("status %s winner %q: %s", task.Status, task.Winner, task.Failure)
	}
	s := n.subs(task.ID)["5Crashes"]
	// Its failure says what happened to it, as the miner reported it (the
	// trainer was killed).
	if !strings.HasPrefix(s.Failure, "the miner reported that the job failed") || !strings.Contains(s.Failure, "signal: killed") || *s.QualityScore != -1 {
		t.Errorf("crashed miner: failure %q score %v", s.Failure, s.QualityScore)
	}
	// What the validator kept about the miners' reports goes with the task.
	if n := n.v.Remembered(); n != 0 {
		t.Errorf("%d entries about the ended task's miners still in memory", n)
	}
}

func TestBadSubmissionsAreScoredNotFatal(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Honest", trainer("1.0"))
	n.addMiner("5WrongArch", `echo '{"architectures":["GPT2LMHeadModel"]}' > "$CRUCIBLE_OUT_DIR/config.json"; echo 0.1 > "$CRUCIBLE_OUT_DIR/model.safetensors"`)
	n.addMiner("5Garbage", `cp "$CRUCIBLE_MODEL_DIR/config.json" "$CRUCIBLE_OUT_DIR/"; echo not-a-number > "$CRUCIBLE_OUT_DIR/model.safetensors"`)
	n.addMiner("5Copycat", trainer("1.0")) // byte-identical to 5Honest's result
	task := n.run(n.submit("facts.jsonl", 0.05).ID)
	if task.Status != crucible.StatusSuccess {
		t.Fatalf("status %s: %s", task.Status, task.Failure)
	}
	subs := n.subs(task.ID)
	for _, h := range []string{"5Honest", "5WrongArch", "5Garbage", "5Copycat"} {
		if subs[h] == nil {
			t.Fatalf("%s has no submission (offer refused or timed out?)", h)
		}
	}
	if subs["5Honest"].UploadedAt == nil || subs["5Copycat"].UploadedAt == nil {
		t.Fatalf("honest %+v / copycat %+v did not upload", subs["5Honest"], subs["5Copycat"])
	}
	if !strings.Contains(subs["5WrongArch"].Failure, "architecture") {
		t.Errorf("wrong architecture: %q", subs["5WrongArch"].Failure)
	}
	if !strings.Contains(subs["5Garbage"].Failure, "evaluation failed") {
		t.Errorf("garbage: %q", subs["5Garbage"].Failure)
	}
	honest, copycat := subs["5Honest"], subs["5Copycat"]
	first, second := honest, copycat
	if copycat.UploadedAt.Before(*honest.UploadedAt) {
		first, second = copycat, honest
	}
	if task.Winner != first.Hotkey || !strings.Contains(second.Failure, "duplicate") {
		t.Errorf("duplicates: winner %s, later %s failure %q", task.Winner, second.Hotkey, second.Failure)
	}
}

func TestCorruptUploadRejectedAtEvaluation(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5A", trainer("1.0"))
	n.addMiner("5B", trainer("0.9"))
	ctx := context.Background()
	// Drive to training, let both upload, then replace 5B's result with a
	// truncated archive.
	task := n.toTraining(n.submit("facts.jsonl", 1).ID)
	n.waitUploads(task.ID)
	sub := n.subs(task.ID)["5B"]
	if _, err := n.v.Upload(ctx, "5B", task.ID, sub.ExpectedName, bytes.NewReader(make([]byte, 700))); err != nil {
		t.Fatal(err)
	}
	done := n.run(task.ID)
	if done.Winner != "5A" {
		t.Errorf("winner %q", done.Winner)
	}
	if f := n.subs(task.ID)["5B"].Failure; !strings.Contains(f, "corrupt upload") {
		t.Errorf("5B failure %q", f)
	}
}

func TestUploadRules(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5A", "exec sleep 20")
	ctx := context.Background()
	task := n.toTraining(n.submit("facts.jsonl", 1).ID)
	sub := n.subs(task.ID)["5A"]
	body := func() *bytes.Reader { return bytes.NewReader([]byte("x")) }
	for _, c := range []struct {
		name, task, file, hotkey, code string
	}{
		{"stranger", task.ID, sub.ExpectedName, "5Stranger", crucible.EFORBIDDEN},
		{"wrong name", task.ID, "someone-elses", "5A", crucible.EFORBIDDEN},
		{"unsigned", task.ID, sub.ExpectedName, "", crucible.EUNAUTHORIZED},
		{"unknown task", "nope", sub.ExpectedName, "5A", crucible.ENOTFOUND},
	} {
		if _, err := n.v.Upload(ctx, c.hotkey, c.task, c.file, body()); crucible.ErrorCode(err) != c.code {
			t.Errorf("%s: got %v, want %s", c.name, err, c.code)
		}
	}
	// Past the deadline, uploads are late.
	past := time.Now().Add(-time.Second)
	task.TerminationAt = &past
	if err := n.store.UpdateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	_, err := n.v.Upload(ctx, "5A", task.ID, sub.ExpectedName, body())
	if crucible.ErrorCode(err) != crucible.ECONFLICT {
		t.Errorf("late upload: %v", err)
	}
	// Over HTTP the late upload is a 409 with the reason.
	req, _ := http.NewRequest(http.MethodPut, n.srv.URL+api.PathUpload+task.ID+"/"+sub.ExpectedName, body())
	req.Header.Set(hotkeyHeader, "5A")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("late upload over HTTP: %d", resp.StatusCode)
	}
}

func TestNoMinersAcceptDelaysThenFails(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5Small", trainer("1"))
	ctx := context.Background()
	task := &crucible.Task{Type: crucible.TaskInstruct, Model: "tiny", Dataset: "facts.jsonl", HoursToComplete: 100}
	if err := n.v.CheckTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := n.store.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	done := n.run(task.ID)
	if done.Status != crucible.StatusFailureFindingNodes || done.TimesDelayed != 1 {
		t.Errorf("status %s after %d delays: %s", done.Status, done.TimesDelayed, done.Failure)
	}
	offers, _ := n.store.FindOfferResponses(ctx, task.ID)
	if len(offers) != 2 || offers[0].Accepted || !strings.Contains(offers[0].Message, "outside") {
		t.Errorf("offers: %+v", offers)
	}
}

func TestPrepFailure(t *testing.T) {
	n := newNetwork(t, "", nil)
	done := n.run(n.submit("broken.jsonl", 1).ID)
	if done.Status != crucible.StatusPrepTaskFailure || !strings.Contains(done.Failure, "broken.jsonl:3: output") {
		t.Errorf("status %s: %q", done.Status, done.Failure)
	}
}

func TestSignedLinks(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5A", trainer("1"))
	task := n.run(n.submit("facts.jsonl", 0.05).ID)
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		name string
		url  string
		want int
	}{
		{"unsigned train split", n.srv.URL + api.PathBlob + task.TrainData, http.StatusUnauthorized},
		{"forged", n.srv.URL + api.PathBlob + task.TrainData + "?expires=9999999999&signature=00", http.StatusUnauthorized},
		{"test split", n.srv.URL + api.PathBlob + task.TestData + "?expires=9999999999&signature=00", http.StatusUnauthorized},
	} {
		if got := get(c.url); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// The validator is killed while it evaluates and restarted on the same
// store: it resumes and reaches the same result.
func TestRestartDuringEvaluation(t *testing.T) {
	n := newNetwork(t, "", nil)
	n.addMiner("5A", trainer("0.7"))
	n.addMiner("5B", trainer("0.4"))
	n.eval.block, n.eval.entered = make(chan struct{}), make(chan struct{})
	task := n.toTraining(n.submit("facts.jsonl", 1).ID)
	n.waitUploads(task.ID)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.v.Run(ctx, task.ID, n.wake) }()
	<-n.eval.entered // blocked in the first submission's evaluation
	cancel()         // the process dies
	if err := <-errc; err == nil {
		t.Fatal("Run did not stop")
	}
	mid, _ := n.store.FindTask(context.Background(), task.ID)
	if mid.Status != crucible.StatusEvaluating {
		t.Fatalf("killed in %s, want evaluating", mid.Status)
	}
	n.eval.block = nil
	n.restart()
	done := n.run(task.ID)
	if done.Status != crucible.StatusSuccess || done.Winner != "5B" {
		t.Fatalf("after restart: %s winner %q: %s", done.Status, done.Winner, done.Failure)
	}
	subs := n.subs(task.ID)
	if *subs["5A"].TestLoss != 0.7 || *subs["5B"].TestLoss != 0.4 {
		t.Errorf("losses %v %v", *subs["5A"].TestLoss, *subs["5B"].TestLoss)
	}
	scores, _ := n.store.FindScoresSince(context.Background(), time.Now().Add(-time.Hour))
	if len(scores) != 2 {
		t.Errorf("%d scores after a restart, want 2", len(scores))
	}
}
