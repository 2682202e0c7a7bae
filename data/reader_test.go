package data

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// readAll reads every row and every error of a dataset path.
func readAll(t *testing.T, path string) (rows []Row, errs []string) {
	t.Helper()
	r, err := Open(path)
	if err != nil {
		return nil, []string{err.Error()}
	}
	defer r.Close()
	for {
		row, err := r.Next()
		if err == io.EOF {
			return rows, errs
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error without position: %v", err)
			}
			errs = append(errs, err.Error())
			if de.Fatal {
				// A fatal error ends the file: the next call must say so.
				if _, err := r.Next(); err != io.EOF {
					t.Fatalf("after a fatal error Next returned %v, want io.EOF", err)
				}
				return rows, errs
			}
			continue
		}
		rows = append(rows, row)
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines renders rows as "line:col=value" strings, sorted by column, for compact comparisons.
func render(rows []Row) []string {
	var out []string
	for _, r := range rows {
		var parts []string
		for _, c := range r.Columns() {
			parts = append(parts, c+"="+toText(r.Values[c]))
		}
		out = append(out, r.Pos.String()[strings.LastIndex(r.Pos.String(), "/")+1:]+" "+strings.Join(parts, " "))
	}
	return out
}

func toText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return "<nil>"
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(reflect.ValueOf(v).String(), "\n", ""), "  ", ""))
}

func TestTextReaders(t *testing.T) {
	tests := []struct {
		name, file, content string
		rows                []string
		errs                []string
	}{
		{
			name: "jsonl", file: "a.jsonl",
			content: "{\"q\":\"hi\",\"a\":\"yo\"}\n\n{\"q\":\"2\",\"a\":null}\r\n",
			rows:    []string{"a.jsonl:1 a=yo q=hi", "a.jsonl:3 a=<nil> q=2"},
		},
		{
			name: "jsonl without final newline and with BOM", file: "b.jsonl",
			content: "\xEF\xBB\xBF{\"q\":\"x\"}\n{\"q\":\"y\"}",
			rows:    []string{"b.jsonl:1 q=x", "b.jsonl:2 q=y"},
		},
		{
			name: "json array over several lines", file: "c.json",
			content: "[\n  {\"q\": \"a\"},\n  {\n    \"q\": \"b\"\n  }\n]\n",
			rows:    []string{"c.json:2 q=a", "c.json:3 q=b"},
		},
		{
			name: "json file holding json lines", file: "d.json",
			content: "{\"q\":\"a\"}\n{\"q\":\"b\"}\n",
			rows:    []string{"d.json:1 q=a", "d.json:2 q=b"},
		},
		{
			name: "csv with quoting", file: "e.csv",
			content: "q,a\n\"hello, world\",\"say \"\"hi\"\"\"\n\"two\nlines\",x\n",
			rows:    []string{"e.csv:2 a=say \"hi\" q=hello, world", "e.csv:3 a=x q=two\nlines"},
		},
		{
			name: "empty jsonl", file: "f.jsonl", content: "\n  \n",
			errs: []string{"f.jsonl:1: empty file"},
		},
		{
			name: "empty csv", file: "g.csv", content: "",
			errs: []string{"g.csv:1: empty file"},
		},
		{
			name: "broken json on a line", file: "h.jsonl",
			content: "{\"q\":\"a\"}\n{\"q\": \"b\",}\n[1]\n\"s\"\n{\"q\":\"c\"}\n",
			rows:    []string{"h.jsonl:1 q=a", "h.jsonl:5 q=c"},
			errs: []string{
				"h.jsonl:2: broken JSON: invalid character '}' looking for beginning of object key string",
				"h.jsonl:3: expected an object, found a list",
				"h.jsonl:4: expected an object, found a string",
			},
		},
		{
			name: "invalid utf-8 names the field", file: "i.jsonl",
			content: "{\"q\":\"ok\",\"a\":\"bad \xff\"}\n",
			errs:    []string{"i.jsonl:1: a: invalid UTF-8"},
		},
		{
			name: "a line of bytes that are not utf-8", file: "i2.jsonl",
			content: "{\"q\":\"a\"}\n\xff\xfe\xfd\n",
			rows:    []string{"i2.jsonl:1 q=a"},
			errs:    []string{"i2.jsonl:2: not a JSON object and not UTF-8 text (invalid UTF-8)"},
		},
		{
			name: "utf-16 json lines", file: "u.jsonl", content: "\xff\xfe{\x00}\x00\n\x00",
			errs: []string{"u.jsonl:1: the file is UTF-16 text (it starts with a UTF-16 byte order mark); datasets must be UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8"},
		},
		{
			name: "utf-16 big-endian csv", file: "u.csv", content: "\xfe\xff\x00q\x00\n",
			errs: []string{"u.csv:1: the file is UTF-16 text (it starts with a UTF-16 byte order mark); datasets must be UTF-8: convert it, e.g. iconv -f UTF-16 -t UTF-8"},
		},
		{
			name: "broken json array is placed on its line", file: "j.json",
			content: "[\n {\"q\":\"a\"},\n {\"q\":\n   \"b\" \"c\"}\n]",
			rows:    []string{"j.json:2 q=a"},
			errs:    []string{"j.json:4: broken JSON: invalid character '\"' after object key:value pair"},
		},
		{
			name: "truncated json array", file: "k.json",
			content: "[\n {\"q\":\"a\"},\n {\"q\":\"b\"",
			rows:    []string{"k.json:2 q=a"},
			errs:    []string{"k.json:3: broken JSON: unexpected end of file (unclosed array or object)"},
		},
		{
			name: "json that is not an array", file: "l.json", content: "\"hello\"",
			errs: []string{"l.json:1: a .json dataset must be an array of objects, one object per line, or an object holding such an array; found hello"},
		},
		{
			name: "json object wrapping the rows", file: "w.json",
			content: "{\"version\": 2, \"meta\": {\"a\": [1, {\"b\": 2}]},\n \"data\": [\n  {\"q\": \"a\"},\n  {\"q\": \"b\"}\n ], \"more\": 1}\n",
			rows:    []string{"w.json:3 q=a", "w.json:4 q=b"},
		},
		{
			name: "pretty-printed single object", file: "x.json",
			content: "{\n  \"q\": \"a\",\n  \"a\": \"b\"\n}\n",
			errs:    []string{"x.json:1: a .json dataset must be an array of objects, one object per line, or an object holding such an array; found an object with no list in it (one pretty-printed row?)"},
		},
		{
			name: "tsv", file: "t.tsv",
			content: "q\ta\nhello, world\t\"x\ty\"\n",
			rows:    []string{"t.tsv:2 a=x\ty q=hello, world"},
		},
		{
			name: "csv bare quote", file: "m.csv",
			content: "q,a\nfine,row\nbad \"quote,x\n",
			rows:    []string{"m.csv:2 a=row q=fine"},
			errs:    []string{"m.csv:3: CSV quoting error (column 5): bare \" in non-quoted-field"},
		},
		{
			name: "csv unterminated quote", file: "n.csv",
			content: "q,a\n\"open,x\n",
			errs:    []string{"n.csv:2: CSV quoting error (column 9): extraneous or missing \" in quoted-field"},
		},
		{
			name: "csv field count", file: "o.csv",
			content: "q,a\n1,2,3\n4,5\n",
			rows:    []string{"o.csv:3 a=5 q=4"},
			errs:    []string{"o.csv:2: 3 fields, the header has 2"},
		},
		{
			name: "csv header problems", file: "p.csv", content: "q,q\n1,2\n",
			errs: []string{"p.csv:1: q: column named twice in the header"},
		},
		{
			name: "csv invalid utf-8", file: "q.csv", content: "q,a\nok,\"b\xfe\"\n",
			errs: []string{"q.csv:2: a: invalid UTF-8"},
		},
	}
	// JSON Lines are read sequentially and in parallel: the same rows and
	// errors must come out in the same order.
	for _, workers := range []int{1, 3} {
		defer setWorkers(workers)()
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				p := writeFile(t, t.TempDir(), tt.file, tt.content)
				rows, errs := readAll(t, p)
				for i := range errs {
					errs[i] = strings.TrimPrefix(errs[i], filepath.Dir(p)+"/")
				}
				if got := render(rows); !reflect.DeepEqual(got, tt.rows) && (len(got) > 0 || len(tt.rows) > 0) {
					t.Errorf("rows:\n got %q\nwant %q", got, tt.rows)
				}
				if !reflect.DeepEqual(errs, tt.errs) && (len(errs) > 0 || len(tt.errs) > 0) {
					t.Errorf("errors:\n got %q\nwant %q", errs, tt.errs)
				}
			})
		}
	}
}

// setWorkers sets the number of JSON Lines decoders and returns a function
// that restores it.
func setWorkers(n int) func() {
	old := jsonWorkers
	jsonWorkers = func() int { return n }
	return func() { jsonWorkers = old }
}

func TestParallelJSONLOrderAndClose(t *testing.T) {
	defer setWorkers(4)()
	var b strings.Builder
	const n = 5000 // several batches
	for i := range n {
		if i%1000 == 999 {
			b.WriteString("not json\n")
			continue
		}
		fmt.Fprintf(&b, "{\"i\":%d}\n\n", i)
	}
	p := writeFile(t, t.TempDir(), "many.jsonl", b.String())
	rows, errs := readAll(t, p)
	if len(rows)+len(errs) != n || len(errs) != 5 {
		t.Fatalf("%d rows, %d errors", len(rows), len(errs))
	}
	line := 1
	for i, r := range rows {
		want := i + i/999
		if int(r.Values["i"].(float64)) != want || r.Pos.Row != want {
			t.Fatalf("row %d is %v at index %d", i, r.Values["i"], r.Pos.Row)
		}
		if r.Pos.Line < line {
			t.Fatalf("row %d on line %d, before %d", i, r.Pos.Line, line)
		}
		line = r.Pos.Line
	}
	// Stopping early and closing ends the reader's goroutines.
	before := runtime.NumGoroutine()
	for range 20 {
		r, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines left running after Close (%d before)", g-before, before)
	}
}

type pqMsg struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

type pqRow struct {
	Instruction string  `parquet:"instruction"`
	Output      *string `parquet:"output,optional"`
	Messages    []pqMsg `parquet:"messages,list"`
}

func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGzipText(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "d.jsonl.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte("{\"q\":\"a\"}\n{\"q\":\"b\"}\n"))
	zw.Close()
	os.WriteFile(p, b.Bytes(), 0o644)
	rows, errs := readAll(t, p)
	if len(rows) != 2 || len(errs) != 0 || rows[1].Pos.Line != 2 {
		t.Errorf("gzip: %d rows, %q", len(rows), errs)
	}
	bad := writeFile(t, dir, "bad.csv.gz", "not gzip")
	if _, errs := readAll(t, bad); len(errs) != 1 || !strings.Contains(errs[0], "bad.csv.gz:1: not a gzip file") {
		t.Errorf("bad gzip: %q", errs)
	}
}

func TestParquetReader(t *testing.T) {
	dir := t.TempDir()
	out := "yo"
	p := filepath.Join(dir, "data", "train-00000-of-00001.parquet")
	writeParquet(t, p, []pqRow{
		{Instruction: "hi", Output: &out, Messages: []pqMsg{{"user", "a"}, {"assistant", "b"}}},
		{Instruction: "bad \xff"},
	})
	r, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := r.Schema(), []string{"instruction", "output", "messages"}; !reflect.DeepEqual(got, want) {
		t.Errorf("schema %q, want %q", got, want)
	}
	row, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"instruction": "hi", "output": "yo", "messages": []any{
		map[string]any{"role": "user", "content": "a"}, map[string]any{"role": "assistant", "content": "b"}}}
	if !reflect.DeepEqual(row.Values, want) {
		t.Errorf("row %#v, want %#v", row.Values, want)
	}
	if row.Pos.String() != p+":row 1" {
		t.Errorf("pos %s", row.Pos)
	}
	_, err = r.Next()
	if err == nil || err.Error() != p+":row 2: instruction: invalid UTF-8" {
		t.Errorf("second row error %v", err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("want EOF, got %v", err)
	}

	// A damaged footer length must not make the library allocate it.
	good, _ := os.ReadFile(p)
	huge := append([]byte(nil), good...)
	copy(huge[len(huge)-8:], []byte{0xf0, 0xff, 0xff, 0xff})
	hp := filepath.Join(dir, "huge.parquet")
	os.WriteFile(hp, huge, 0o644)
	if _, err := Open(hp); err == nil || !strings.Contains(err.Error(), "the footer claims 4294967280 bytes") {
		t.Errorf("huge footer: %v", err)
	}

	bad := writeFile(t, dir, "bad.parquet", "PAR1 not really")
	if _, err := Open(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":row 1: not a readable Parquet file: no Parquet magic") {
		t.Errorf("corrupt parquet: %v", err)
	}
}

func TestDataFilesLayout(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "README.md", "---\nlicense: mit\n---\n")
	writeFile(t, dir, "data/test-00000-of-00001.jsonl", "{\"q\":\"t\"}\n")
	writeFile(t, dir, "data/train-00001-of-00002.jsonl", "{\"q\":\"b\"}\n")
	writeFile(t, dir, "data/train-00000-of-00002.jsonl", "{\"q\":\"a\"}\n")
	writeFile(t, dir, "validation/0000.jsonl", "{\"q\":\"v\"}\n")
	writeFile(t, dir, "dataset_info.json", "{}")
	writeFile(t, dir, ".cache/x.jsonl", "{}")
	rows, errs := readAll(t, dir)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.Values["q"].(string)+"@"+SplitOf(r.Pos.File))
	}
	want := []string{"a@train", "b@train", "v@validation", "t@test"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	if _, err := DataFiles(t.TempDir()); err == nil {
		t.Error("empty directory: no error")
	}
}

func TestDirectoryErrorsAreNotFatal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "train-0.jsonl", "{\"q\":\"a\"}\n")
	writeFile(t, dir, "train-1.jsonl", "")
	writeFile(t, dir, "train-2.jsonl", "{\"q\":\"c\"}\n")
	rows, errs := readAll(t, dir)
	if len(rows) != 2 || len(errs) != 1 || !strings.HasSuffix(errs[0], "train-1.jsonl:1: empty file") {
		t.Errorf("rows %d errs %q", len(rows), errs)
	}
}

func TestDataFilesFromReadmeConfigs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "README.md", `---
license: mit
configs:
- config_name: fr
  data_files: "fr/*.jsonl"
- config_name: en
  default: true
  data_files:
  - split: test
    path: en/test-*
  - split: train
    path:
    - en/train/**
---
# A dataset
`)
	writeFile(t, dir, "fr/a.jsonl", "{\"q\":\"fr\"}\n")
	writeFile(t, dir, "en/test-0.jsonl", "{\"q\":\"t\"}\n")
	writeFile(t, dir, "en/train/part1/b.jsonl", "{\"q\":\"b\"}\n")
	writeFile(t, dir, "en/train/a.jsonl", "{\"q\":\"a\"}\n")
	writeFile(t, dir, "en/train/notes.txt", "not data")
	files, err := DataFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		r, _ := filepath.Rel(dir, f)
		rel = append(rel, filepath.ToSlash(r))
	}
	if want := []string{"en/train/a.jsonl", "en/train/part1/b.jsonl", "en/test-0.jsonl"}; !reflect.DeepEqual(rel, want) {
		t.Errorf("files %q, want %q", rel, want)
	}
	configs, err := ReadConfigs(dir)
	if err != nil || len(configs) != 2 || configs[0].Files["train"][0] != "fr/*.jsonl" {
		t.Errorf("configs %+v %v", configs, err)
	}

	writeFile(t, dir, "README.md", "---\nconfigs:\n- config_name: x\n  data_files: nothing/*\n---\n")
	if _, err := DataFiles(dir); err == nil || !strings.Contains(err.Error(), `pattern "nothing/*" (split train) matches no file`) {
		t.Errorf("unmatched pattern: %v", err)
	}
	writeFile(t, dir, "README.md", "---\nconfigs: [oops\n---\n")
	if _, err := DataFiles(dir); err == nil || !strings.Contains(err.Error(), "README.md:1: configs: front matter is not valid YAML") {
		t.Errorf("bad yaml: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, name string
		want      bool
	}{
		{"data/train-*", "data/train-00000-of-00001.parquet", true},
		{"data/train-*", "data/sub/train-0.parquet", false},
		{"data/**", "data/a/b/c.jsonl", true},
		{"**/*.csv", "x.csv", true},
		{"**/*.csv", "a/b/x.csv", true},
		{"a/**/b.json", "a/b.json", true},
		{"a/*/b.json", "a/b.json", false},
	} {
		if got := globMatch(tc.pat, tc.name); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v", tc.pat, tc.name, got)
		}
	}
}

func TestRowTooLong(t *testing.T) {
	defer func(n int) { maxRowBytes = n }(maxRowBytes)
	maxRowBytes = 100 << 10
	content := "{\"q\":\"a\"}\n{\"q\":\"" + strings.Repeat("x", 300<<10) + "\"}\n{\"q\":\"c\"}\n"
	for _, workers := range []int{1, 2} {
		restore := setWorkers(workers)
		rows, errs := readAll(t, writeFile(t, t.TempDir(), "r.jsonl", content))
		restore()
		if len(rows) != 2 || rows[1].Pos.Line != 3 || rows[1].Pos.Row != 2 || len(errs) != 1 || !strings.HasSuffix(errs[0], "r.jsonl:2: row longer than 100 KiB") {
			t.Errorf("workers=%d: %d rows, errors %q", workers, len(rows), errs)
		}
	}
}

func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 300<<10) // several times the read buffer
	dir := t.TempDir()
	for _, name := range []string{"l.jsonl", "l.json", "l.csv"} {
		var content string
		switch name {
		case "l.jsonl":
			content = "{\"q\":\"" + long + "\"}\n{\"q\":\"short\"}\n"
		case "l.json":
			content = strings.Repeat("  \n", 50<<10) + "[{\"q\":\"" + long + "\"},\n{\"q\":\"short\"}]"
		case "l.csv":
			content = "q\n\"" + long + "\"\nshort\n"
		}
		rows, errs := readAll(t, writeFile(t, dir, name, content))
		if len(errs) > 0 || len(rows) != 2 || rows[0].Values["q"] != long || rows[1].Values["q"] != "short" {
			t.Errorf("%s: %d rows, errors %q", name, len(rows), errs)
			continue
		}
		wantLine := map[string]int{"l.jsonl": 2, "l.json": 50<<10 + 2, "l.csv": 3}[name]
		if rows[1].Pos.Line != wantLine {
			t.Errorf("%s: second row on line %d, want %d", name, rows[1].Pos.Line, wantLine)
		}
	}
}
