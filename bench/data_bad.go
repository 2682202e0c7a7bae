package bench

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// brokenLine is the row the bad-row phase puts into its copy of the
// dataset: JSON cut short, as a truncated upload or a bad export leaves it.
const brokenLine = `{"instruction": "a row cut short`

// rowsAfterBroken is how many of the dataset's rows follow the broken one in
// the copy: enough that it is inside the file, not its last line.
const rowsAfterBroken = 1000

// writeBrokenCopy writes the first line-1 lines of src to dst, then a
// broken row as line line, then up to rowsAfterBroken more lines of src
// (not the rest of the file: a broken row at line 9,000,000 needs a copy
// of only the first 9,000,000 rows). It fails when src has fewer than
// line lines.
func writeBrokenCopy(src, dst string, line int64) (err error) {
	if line < 1 {
		return fmt.Errorf("bench data: --bad-row must be ≥ 1, got %d", line)
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	r := bufio.NewReaderSize(in, 1<<20)
	w := bufio.NewWriterSize(out, 1<<20)
	var n int64
	for n < line-1+rowsAfterBroken {
		b, err := r.ReadSlice('\n')
		for err == bufio.ErrBufferFull { // a line longer than the buffer
			if _, werr := w.Write(b); werr != nil {
				return werr
			}
			b, err = r.ReadSlice('\n')
		}
		if len(b) == 0 && err == io.EOF {
			break
		}
		if err != nil && err != io.EOF {
			return err
		}
		if n++; n == line {
			if _, err := w.WriteString(brokenLine + "\n"); err != nil {
				return err
			}
			continue
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			if err := w.WriteByte('\n'); err != nil {
				return err
			}
		}
	}
	if n < line {
		return fmt.Errorf("bench data: --bad-row %d: the dataset has only %d lines", line, n)
	}
	return w.Flush()
}

// badRowPhase trains on a copy of the dataset whose line line is broken
// and checks what the issue asks of bad input deep inside a big file: the
// run fails before its first optimizer step, its error names the file and
// the line, and it leaves nothing behind (no token file in the cache, no
// output or work directory). The row it returns times the run to its
// error; its Rows is the line reported.
func badRowPhase(self, dataPath, work string, line int64, trainArgs []string, logw io.Writer) (dataBenchRow, error) {
	dir := filepath.Join(work, "bad-row")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dataBenchRow{}, err
	}
	defer os.RemoveAll(dir)
	bad := filepath.Join(dir, "broken.jsonl")
	fmt.Fprintf(logw, "bad-row: copying the first %d rows of %s with row %d broken\n", line-1+rowsAfterBroken, dataPath, line)
	if err := writeBrokenCopy(dataPath, bad, line); err != nil {
		return dataBenchRow{}, err
	}
	cache := filepath.Join(dir, "cache")
	out := filepath.Join(dir, "out")
	args := append(append([]string{}, trainArgs...), "--token-cache="+cache, "--data", bad, "--out", out)
	fmt.Fprintf(logw, "bad-row: crucible %s\n", strings.Join(args, " "))
	r, _, tail, err := runChildTail(self, args, dir)
	r.Phase, r.Command, r.Rows = "bad-row", "crucible "+strings.Join(args, " "), line
	if err == nil {
		return r, fmt.Errorf("bench data: bad-row: training on a dataset with a broken row %d succeeded", line)
	}
	want := fmt.Sprintf("%s:%d:", bad, line)
	if !strings.Contains(strings.Join(tail, "\n"), want) {
		return r, fmt.Errorf("bench data: bad-row: the error does not name %q: %w", want, err)
	}
	if r.FirstStep > 0 {
		return r, fmt.Errorf("bench data: bad-row: training took a step before the broken row %d stopped it", line)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir && p != bad && p != cache {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		return r, fmt.Errorf("bench data: bad-row: the failed run left %s behind", strings.Join(left, ", "))
	}
	return r, nil
}
