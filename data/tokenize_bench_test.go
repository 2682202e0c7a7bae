package data

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crucible-net/crucible/assets"
	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tokenizer"
)

// shippedTokenizer loads the tokenizer of the shipped base model.
func shippedTokenizer(tb testing.TB) *tokenizer.Tokenizer {
	tb.Helper()
	dir, err := assets.Extract(assets.Tokenizer, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// writeInstruct writes about size bytes of instruct rows of English-like
// text, as crucible bench data generates them, and returns the row count.
func writeInstruct(tb testing.TB, path string, size int) int {
	tb.Helper()
	corpus := tokenizer.SampleText(4<<20, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	span := func(minLen, maxLen int) string {
		n := minLen + rng.IntN(maxLen-minLen+1)
		lo := rng.IntN(len(corpus) - n - 64)
		return strings.TrimSpace(corpus[lo : lo+n])
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	type row struct {
		Instruction string `json:"instruction"`
		Input       string `json:"input,omitempty"`
		Output      string `json:"output"`
	}
	rows, n := 0, 0
	for n < size {
		r := row{Instruction: span(30, 220), Output: span(80, 640)}
		if rng.IntN(4) == 0 {
			r.Input = span(20, 200)
		}
		b, _ := json.Marshal(r)
		w.Write(b)
		w.WriteByte('\n')
		n += len(b) + 1
		rows++
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	return rows
}

// BenchmarkTokenizeFile writes the token store of an instruct JSONL file
// with the shipped tokenizer: MB/s of dataset per worker count (workers=1
// is the speed of one core).
func BenchmarkTokenizeFile(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "instruct.jsonl")
	rows := writeInstruct(b, path, 16<<20)
	st, _ := os.Stat(path)
	tok := shippedTokenizer(b)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.SetBytes(st.Size())
			cpu0 := cpuTime()
			for b.Loop() {
				src, _, err := WriteTokenFile(context.Background(), path, filepath.Join(dir, "out.tokens"), TokenFileOptions{
					Type: crucible.TaskInstruct, Tokenizer: tok, VocabSize: tok.VocabSize(), Workers: workers,
					Tokenize: TokenizeOptions{MaxLength: 1024}})
				if err != nil || src.Rows != int64(rows) {
					b.Fatalf("%v, %+v", err, src)
				}
			}
			// Per CPU-second, the figure that holds on a busy machine.
			b.ReportMetric(float64(st.Size())*float64(b.N)/1e6/(cpuTime()-cpu0).Seconds(), "MB/cpu-s")
		})
	}
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// encodeOnly hides AppendEncode, so Tokenize takes its general path.
type encodeOnly struct{ Tokenizer }

// TestTokenizeAppendSame checks that the AppendEncode path gives exactly
// the sequences of the general path, for instruct and text examples with
// and without BOS, training on inputs or not, truncated or not.
func TestTokenizeAppendSame(t *testing.T) {
	real := shippedTokenizer(t)
	texts := []string{"", "Q", "What is 2+2?", "naïve — café 日本語 🙂\n\n", strings.Repeat("long text ", 300), "<|im_start|>x<|im_end|>"}
	for _, tok := range []Tokenizer{real, withBOS{real}} {
		if _, ok := tok.(appendEncoder); !ok {
			t.Fatalf("%T has no AppendEncode", tok)
		}
		for _, p := range texts {
			for _, r := range texts {
				for _, opt := range []TokenizeOptions{{}, {TrainOnInputs: true}, {MaxLength: 7}, {MaxLength: 1024}} {
					for _, ex := range []Example{{Type: crucible.TaskInstruct, Prompt: p, Response: r}, {Type: crucible.TaskText, Text: p + r}} {
						got, err1 := Tokenize(tok, ex, opt)
						want, err2 := Tokenize(encodeOnly{tok}, ex, opt)
						if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
							t.Fatalf("%T %+v %+v:\n got %+v, %v\nwant %+v, %v", tok, ex, opt, got, err1, want, err2)
						}
					}
				}
			}
		}
	}
}

// withBOS is the shipped tokenizer asking for BOS (its <|endoftext|>).
type withBOS struct{ *tokenizer.Tokenizer }

func (withBOS) AddBOS() bool { return true }
func (withBOS) BOSID() int   { return 0 }
