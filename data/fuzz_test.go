package data

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/fuzzguard"
)

// FuzzReaders feeds arbitrary bytes to every text reader and to the
// formats on top: nothing may panic, every row problem must be a
// positioned *Error, and readers must end.
func FuzzReaders(f *testing.F) {
	for _, seed := range []string{
		"{\"q\":\"a\",\"a\":\"b\"}\n",
		"[{\"q\":\"a\"},\n{\"q\":1}]",
		"{\"data\":[{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}]}",
		"q,a\n\"x\",y\n\"bad\"quote\n",
		"\xEF\xBB\xBF[]",
		"{\"conversations\":\"[{\\\"from\\\":\\\"human\\\"}]\"}\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzguard.Within(t, func() {
			dir := t.TempDir()
			for _, name := range []string{"f.jsonl", "f.json", "f.csv"} {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				r, err := OpenFile(p)
				if err != nil {
					var de *Error
					if !errors.As(err, &de) {
						t.Fatalf("%s: open error without position: %v", name, err)
					}
					continue
				}
				var rows []Row
				for i := 0; ; i++ {
					if i > len(b)+2 {
						t.Fatalf("%s: more rows than bytes", name)
					}
					row, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						var de *Error
						if !errors.As(err, &de) {
							t.Fatalf("%s: error without position: %v", name, err)
						}
						continue
					}
					rows = append(rows, row)
				}
				r.Close()
				if len(rows) == 0 {
					continue
				}
				// Whatever detection makes of the rows must not panic either.
				d, err := Detect(rows)
				if err != nil {
					if crucible.ErrorCode(err) != crucible.EINVALID {
						t.Fatalf("%s: detection error %v", name, err)
					}
					continue
				}
				fm, err := NewFormatter(d.Type, d.Mapping)
				if err != nil {
					t.Fatalf("%s: detected mapping invalid: %v", name, err)
				}
				for _, row := range rows {
					ex, err := fm.Example(row)
					if err != nil {
						continue
					}
					if d.Type == crucible.TaskDPO {
						TokenizePair(byteTokenizer{addBOS: true}, ex, TokenizeOptions{MaxLength: 16})
					} else if _, err := Tokenize(byteTokenizer{addBOS: true}, ex, TokenizeOptions{MaxLength: 16}); err != nil {
						t.Fatalf("%s: tokenize: %v", name, err)
					}
				}
			}
		})
	})
}

// FuzzParquet feeds damaged Parquet files to the Parquet reader.
func FuzzParquet(f *testing.F) {
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.parquet")
	writeParquetF(f, p)
	seed, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed, 0, byte(0))
	f.Add(seed, len(seed)/2, byte(0xff))
	f.Add(seed[:len(seed)-5], 3, byte(1))
	f.Fuzz(func(t *testing.T, b []byte, at int, x byte) {
		fuzzguard.Within(t, func() {
			if len(b) > 0 {
				b = append([]byte(nil), b...)
				b[(at%len(b)+len(b))%len(b)] ^= x
			}
			p := filepath.Join(t.TempDir(), "f.parquet")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			r, err := OpenFile(p)
			if err != nil {
				var de *Error
				if !errors.As(err, &de) {
					t.Fatalf("open error without position: %v", err)
				}
				return
			}
			defer r.Close()
			for i := 0; i < 1000; i++ {
				_, err := r.Next()
				if err == io.EOF {
					return
				}
				var de *Error
				if err != nil && !errors.As(err, &de) {
					t.Fatalf("error without position: %v", err)
				}
				if de != nil && de.Fatal {
					return
				}
			}
		})
	})
}

func writeParquetF(f *testing.F, path string) {
	out := "yo"
	fh, err := os.Create(path)
	if err != nil {
		f.Fatal(err)
	}
	w := parquet.NewGenericWriter[pqRow](fh)
	if _, err := w.Write([]pqRow{{Instruction: "hi", Output: &out, Messages: []pqMsg{{"user", "a"}, {"assistant", "b"}}}, {Instruction: "x"}}); err != nil {
		f.Fatal(err)
	}
	w.Close()
	fh.Close()
}
