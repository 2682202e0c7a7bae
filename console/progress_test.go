package console

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Training's progress off a terminal: a line at once for each new kind of
// message and at the end, repeated updates of one kind held back, log
// lines as they come, never a terminal escape.
func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, false)
	p.start = time.Now().Add(-30 * time.Second)
	p.Line("training tiny on facts.jsonl for at most 5m0s")
	p.Update(0.5, "step 10/20 loss 2.1000")
	p.Update(0.55, "step 11/20 loss 2.0000") // the same kind within 5 s: held back
	p.Update(0.6, "validation loss 1.9000")  // a new kind: at once
	p.Update(1, "step 20/20 loss 1.5000")    // the end: always
	p.Done()
	lines := strings.Split(strings.TrimSuffix(times(out.String()), "\n"), "\n")
	if len(lines) != 4 || strings.ContainsAny(out.String(), "\r\x1b") {
		t.Fatalf("plain output:\n%q", out.String())
	}
	if !strings.HasPrefix(lines[1], " 50% step 10/20 loss 2.1000 (elapsed Ns ETA Ns)") ||
		!strings.HasPrefix(lines[2], " 60% validation loss 1.9000") || !strings.HasPrefix(lines[3], "100% step 20/20 loss 1.5000 (elapsed Ns)") {
		t.Fatalf("plain lines:\n%s", out.String())
	}
}

// On a terminal: one bar redrawn in place with its share, message and
// ETA; a log line clears the bar and goes above it; Done ends the line.
func TestProgressBar(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress(&out, true)
	p.start = time.Now().Add(-30 * time.Second)
	p.Update(0.25, "step 5/20 loss 2.5000")
	p.Update(0.5, "step 10/20 loss 2.1000")
	p.Line("checkpoint saved")
	p.Update(0.75, "step 15/20 loss 1.8000")
	p.Done()
	want := "\r\x1b[2K[######..................]  25% step 5/20 loss 2.5000 ETA 1mNs" +
		"\r\x1b[2K[############............]  50% step 10/20 loss 2.1000 ETA Ns" +
		"\r\x1b[2Kcheckpoint saved\n" +
		"\r\x1b[2K[##################......]  75% step 15/20 loss 1.8000 ETA Ns\n"
	if times(out.String()) != want {
		t.Fatalf("terminal output\n%q\nwant\n%q", out.String(), want)
	}
}

// times replaces the seconds of every duration in s by N: 30 s of elapsed
// time set by the test, read a moment later, may show as 31 s on a busy
// machine (the minutes stay).
func times(s string) string {
	return regexp.MustCompile(`([ m])[0-9]{1,2}s\b`).ReplaceAllString(s, "${1}Ns")
}

// Files moving off a terminal (data pull, uploads): a line when a file
// starts, at each quarter and when it ends with its size, time and rate; a
// file of unknown size says what has come.
func TestTransfersPlainLines(t *testing.T) {
	var out bytes.Buffer
	tr := NewTransfers(&out, false, "downloading")
	for _, have := range []int64{0, 100, 520, 700, 1030, 1600, 2048} {
		tr.Update("train.jsonl", have, 2048)
	}
	tr.Update("stream.bin", 10, 0)
	tr.Close()
	got := out.String()
	for _, want := range []string{"downloading train.jsonl: 0% of 2.0 KiB\n", "downloading train.jsonl: 25% of 2.0 KiB\n",
		"downloading train.jsonl: 50% of 2.0 KiB\n", "downloading train.jsonl: 78% of 2.0 KiB\n", "downloading train.jsonl: done, 2.0 KiB in ", "downloading stream.bin: 10 B\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 6 || strings.ContainsAny(got, "\r\x1b") {
		t.Errorf("%d lines (want 6), or terminal escapes:\n%q", n, got)
	}
}

// On a terminal every file gets a bar (mpb) with its name and size, and a
// finished one says done.
func TestTransfersBars(t *testing.T) {
	var out bytes.Buffer
	tr := NewTransfers(&out, true, "downloading")
	tr.Update("model.safetensors", 512<<10, 1<<20)
	tr.Update("model.safetensors", 1<<20, 1<<20)
	tr.Update("tokenizer.json", 10, 100)
	tr.Close()
	got := out.String()
	for _, want := range []string{"model.safetensors", "1.0 MiB / 1.0 MiB", "done", "tokenizer.json", "[="} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%q", want, got)
		}
	}
}
