package data

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// writeLarge writes rows of about rowBytes bytes each until the file holds
// at least size bytes, in the given format, streaming (the file is never in
// memory).
func writeLarge(t testing.TB, path string, format Format, size, rowBytes int) int {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if format == FormatParquet {
		w := parquet.NewGenericWriter[pqQA](f, parquet.PageBufferSize(64<<10))
		n, written := 0, 0
		for written < size {
			q := pqQA{Question: fmt.Sprintf("question %d %s", n, strings.Repeat("x", rowBytes)), Answer: fmt.Sprintf("answer %d", n)}
			if _, err := w.Write([]pqQA{q}); err != nil {
				t.Fatal(err)
			}
			n++
			written += rowBytes
			if n%2000 == 0 {
				w.Flush() // a new row group now and then, as real files have
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	pad := strings.Repeat("lorem ipsum ", rowBytes/12)
	switch format {
	case FormatJSON:
		bw.WriteString("[\n")
	case FormatCSV:
		bw.WriteString("question,answer\n")
	}
	n, written := 0, 0
	for written < size {
		var line string
		switch format {
		case FormatCSV:
			line = fmt.Sprintf("\"q %d, \"\"%s\"\"\",a %d\n", n, pad, n)
		case FormatJSON:
			sep := ",\n"
			if n == 0 {
				sep = ""
			}
			line = fmt.Sprintf("%s  {\"question\": \"q %d %s\",\n   \"answer\": \"a %d\"}", sep, n, pad, n)
		default:
			line = fmt.Sprintf("{\"question\":\"q %d %s\",\"answer\":\"a %d\"}\n", n, pad, n)
		}
		bw.WriteString(line)
		written += len(line)
		n++
	}
	if format == FormatJSON {
		bw.WriteString("\n]\n")
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStreamingConstantMemory reads files several times larger than the
// heap the reader may use, and checks both that every row arrives with the
// right position and that the live heap stays small throughout.
func TestStreamingConstantMemory(t *testing.T) {
	size := 8 << 20
	if testing.Short() {
		size = 4 << 20
	}
	const heapLimit = 6 << 20 // the batches two decoders keep in flight take about 3 MB
	defer setWorkers(2)()     // the rows in flight grow with the decoders
	dir := t.TempDir()
	for _, format := range []Format{FormatJSONL, FormatJSON, FormatCSV, FormatParquet} {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(dir, "large."+string(format))
			rowBytes := 2000
			fsize := size
			if format == FormatParquet {
				fsize = size / 3 // the writer is slow under -race
			}
			n := writeLarge(t, path, format, fsize, rowBytes)
			r, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			peak := uint64(0)
			rows := 0
			for {
				row, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if row.Pos.Row != rows {
					t.Fatalf("row %d has index %d", rows, row.Pos.Row)
				}
				wantLine := map[Format]int{FormatJSONL: rows + 1, FormatJSON: 2*rows + 2, FormatCSV: rows + 2, FormatParquet: 0}[format]
				if row.Pos.Line != wantLine {
					t.Fatalf("row %d on line %d, want %d", rows, row.Pos.Line, wantLine)
				}
				rows++
				if rows%500 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > base && ms.HeapAlloc-base > peak {
						peak = ms.HeapAlloc - base
					}
				}
			}
			st, _ := os.Stat(path)
			t.Logf("%s: %d rows, %.1f MB file, peak live heap growth %.2f MB", format, rows, float64(st.Size())/(1<<20), float64(peak)/(1<<20))
			if rows != n {
				t.Errorf("read %d rows, wrote %d", rows, n)
			}
			if peak > heapLimit {
				t.Errorf("live heap grew by %d bytes while streaming a %d byte file", peak, st.Size())
			}
		})
	}
}

// BenchmarkRead reports throughput and allocations per row of each reader.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	for _, format := range []Format{FormatJSONL, FormatJSON, FormatCSV, FormatParquet} {
		path := filepath.Join(dir, "bench."+string(format))
		n := writeLarge(b, path, format, 4<<20, 500)
		st, _ := os.Stat(path)
		b.Run(string(format), func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				r, err := OpenFile(path)
				if err != nil {
					b.Fatal(err)
				}
				rows := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows++
				}
				r.Close()
				if rows != n {
					b.Fatalf("%d rows, want %d", rows, n)
				}
			}
		})
	}
}

// BenchmarkCheck measures a whole check (read, detect, shape, hash, split
// size) of an instruct dataset, with and without token lengths from a
// trained byte-level BPE tokenizer.
func BenchmarkCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "alpaca.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const rows = 20000
	for i := range rows {
		fmt.Fprintf(w, `{"instruction":"Explain item %d of the list in a few words.","input":"%s","output":"Item %d is %s."}`+"\n",
			i, strings.Repeat("context ", i%7), i, strings.Repeat("quite interesting ", 1+i%5))
	}
	w.Flush()
	f.Close()
	st, _ := os.Stat(path)
	tok := realTokenizerB(b)
	for _, tc := range []struct {
		name string
		opt  CheckOptions
	}{{"no-tokenizer", CheckOptions{}}, {"bpe-tokenizer", CheckOptions{Tokenizer: tok}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Check(path, tc.opt)
				if err != nil || rep.Rows != rows {
					b.Fatalf("%v %+v", err, rep)
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkJSONLWorkers compares sequential and parallel decoding of the
// same JSON Lines file in one run.
func BenchmarkJSONLWorkers(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	n := writeLarge(b, path, FormatJSONL, 8<<20, 500)
	st, _ := os.Stat(path)
	for _, w := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			defer setWorkers(w)()
			b.SetBytes(st.Size())
			for b.Loop() {
				r, err := OpenFile(path)
				if err != nil {
					b.Fatal(err)
				}
				rows := 0
				for {
					if _, err := r.Next(); err == io.EOF {
						break
					} else if err != nil {
						b.Fatal(err)
					}
					rows++
				}
				r.Close()
				if rows != n {
					b.Fatalf("%d rows, want %d", rows, n)
				}
			}
		})
	}
}
