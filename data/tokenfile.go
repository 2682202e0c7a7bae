package data

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crucible-net/crucible/crucible"
	"github.com/crucible-net/crucible/ml/tokens"
)

// TokenFileOptions controls WriteTokenFile.
type TokenFileOptions struct {
	// Type and Mapping say how to read the rows; see Settle for what is
	// detected when they are not complete.
	Type    crucible.TaskType
	Mapping crucible.ColumnMapping
	// Tokenizer encodes the examples; VocabSize bounds its ids.
	Tokenizer Tokenizer
	VocabSize int
	// Tokenize holds the maximum length, whether prompts count and the
	// chat template. Sequences are truncated to MaxLength as Tokenize and
	// TokenizePair truncate them, except text documents, which are cut into
	// windows of MaxLength tokens overlapping by one (continued pretraining
	// loses no text), as Windows does.
	Tokenize TokenizeOptions
	// Workers is the number of goroutines that tokenize. Defaults to
	// GOMAXPROCS.
	Workers int
	// Progress, when set, is called about twice a second and at the end.
	Progress func(TokenProgress)
	// DataSHA256 and TokenizerSHA256, when known, are recorded in the
	// store, naming what it was made from.
	DataSHA256, TokenizerSHA256 string
	// Reason is recorded as why Type and Mapping, when the caller settled
	// them (see Settle) and nothing is detected here.
	Reason string
	// HashData, when DataSHA256 is empty, hashes the dataset (see
	// DatasetSHA256) on a goroutine of its own while it is tokenized, and
	// records the hash.
	HashData bool
	// dataSum, when set, gives DataSHA256 once every row is written (the
	// cache hashes the dataset while it is tokenized).
	dataSum func() (string, error)
}

// TokenProgress reports a running WriteTokenFile.
type TokenProgress struct {
	Rows      int64         `json:"rows"`
	Sequences int64         `json:"sequences"`
	Tokens    int64         `json:"tokens"`
	Bytes     int64         `json:"bytes"`       // of the dataset's files read so far
	Total     int64         `json:"total_bytes"` // of all of them
	Elapsed   time.Duration `json:"elapsed_ns"`
}

// TokenSource is what a token store made from a dataset records about it
// (the "source" of its metadata), so that a trainer knows what the tokens
// are without crucible's tokenizer or templates.
type TokenSource struct {
	TaskType crucible.TaskType      `json:"task_type"`
	Mapping  crucible.ColumnMapping `json:"mapping"`
	// Reason says why this type and mapping, when detection chose them.
	Reason          string `json:"reason,omitempty"`
	DataSHA256      string `json:"data_sha256,omitempty"`
	TokenizerSHA256 string `json:"tokenizer_sha256,omitempty"`
	MaxLength       int    `json:"max_length"`
	TrainOnInputs   bool   `json:"train_on_inputs,omitempty"`
	// Windows is set for text: documents longer than MaxLength were cut
	// into windows overlapping by one token, not truncated.
	Windows bool  `json:"windows,omitempty"`
	BOS     int   `json:"bos_token_id"` // -1 when none
	EOS     int   `json:"eos_token_id"` // -1 when none
	Rows    int64 `json:"rows"`         // rows read, as data check counts them
	// Empty counts rows with nothing to learn from (for dpo, also rows
	// missing one of the two answers); they have no sequence.
	Empty int64         `json:"empty_rows"`
	Stats TokenizeStats `json:"tokenize"`
}

// tokenBatch is a run of consecutive rows, tokenized by one worker.
type tokenBatch struct {
	rows []Row
	err  error // a reading error after the rows: the end of the data
	out  []tokenItem
	done chan struct{}
}

// tokenItem is what one row became.
type tokenItem struct {
	err       error
	empty     bool
	dropped   bool
	truncated bool
	seqs      []Sequence // a pair's chosen and rejected, or windows
	tokens    int64      // before windowing, for the stats
	counted   int64
}

// Rows handed to a tokenizing worker at a time: enough to amortize the
// hand-over, few enough that the batches in flight stay small.
const tokenBatchRows = 256

// WriteTokenFile reads the dataset at path (a file or a dataset directory),
// tokenizes every row in parallel and streams the sequences, in row order,
// into a token store at out (see package ml/tokens), in memory that does
// not grow with the dataset. Rows with nothing to learn from, and
// sequences that truncation leaves without a scored token, are counted and
// skipped. The first bad row stops it with an EINVALID error naming the
// row ("file:line: field: problem"); on any error nothing is left at out.
func WriteTokenFile(ctx context.Context, path, out string, opt TokenFileOptions) (*TokenSource, tokens.Meta, error) {
	start := time.Now()
	if opt.Tokenizer == nil || opt.VocabSize <= 0 {
		return nil, tokens.Meta{}, errors.New("write tokens: a tokenizer and its vocabulary size are required")
	}
	if opt.HashData && opt.DataSHA256 == "" && opt.dataSum == nil {
		hctx, hcancel := context.WithCancel(ctx)
		defer hcancel()
		type hashed struct {
			sum string
			err error
		}
		ch := make(chan hashed, 1)
		go func() {
			sum, err := DatasetSHA256(hctx, path)
			ch <- hashed{sum, err}
		}()
		opt.dataSum = func() (string, error) {
			select {
			case h := <-ch:
				return h.sum, h.err
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
	}
	typ, mapping, reason, err := Settle(path, opt.Type, opt.Mapping)
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	f, err := NewFormatter(typ, mapping)
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	if reason == "" {
		reason = opt.Reason
	}
	src := &TokenSource{TaskType: typ, Mapping: f.Mapping, Reason: reason, DataSHA256: opt.DataSHA256, TokenizerSHA256: opt.TokenizerSHA256,
		MaxLength: opt.Tokenize.MaxLength, TrainOnInputs: opt.Tokenize.TrainOnInputs, Windows: typ == crucible.TaskText && opt.Tokenize.MaxLength > 0,
		BOS: opt.Tokenizer.BOSID(), EOS: opt.Tokenizer.EOSID()}
	kind := tokens.KindSequences
	if typ == crucible.TaskDPO {
		kind = tokens.KindPairs
	}
	files := []string{path}
	if fs, err := DataFiles(path); err == nil {
		files = fs
	}
	var total int64
	for _, file := range files {
		if st, err := os.Stat(file); err == nil {
			total += st.Size()
		}
	}
	w, err := tokens.Create(out, kind, opt.VocabSize)
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	ok := false
	defer func() {
		if !ok {
			w.Abort()
		}
	}()

	progress := func(rows, bytes int64) {
		if opt.Progress != nil {
			m := w.Meta()
			opt.Progress(TokenProgress{Rows: rows, Sequences: m.Sequences, Tokens: m.Tokens, Bytes: bytes, Total: total, Elapsed: time.Since(start)})
		}
	}
	perWorker := func() func(Row) tokenItem {
		wopt := opt
		wopt.Tokenizer = workerOf(opt.Tokenizer)
		return func(row Row) tokenItem { return tokenizeRow(f, row, wopt) }
	}
	err = eachTokenized(ctx, f, files, opt.Workers, perWorker, progress, func(it *tokenItem) error {
		if it.err != nil {
			return rowError(path, it.err)
		}
		src.Rows++
		if it.empty {
			src.Empty++
			return nil
		}
		src.Stats.Examples++
		if it.dropped {
			src.Stats.Dropped++
			return nil
		}
		if it.truncated {
			src.Stats.Truncated++
		}
		src.Stats.Tokens += it.tokens
		src.Stats.Counted += it.counted
		for _, s := range it.seqs {
			if err := w.Append(s.IDs, s.Labels); err != nil {
				return crucible.Wrap(err, crucible.EINTERNAL, "write tokens of %s", s.Pos)
			}
		}
		return nil
	})
	var re readError
	if errors.As(err, &re) {
		return nil, tokens.Meta{}, rowError(path, re.err)
	}
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	if w.Meta().Sequences == 0 {
		return nil, tokens.Meta{}, noUsableRows(path, typ, src)
	}
	if opt.dataSum != nil {
		if src.DataSHA256, err = opt.dataSum(); err != nil {
			return nil, tokens.Meta{}, crucible.Wrap(err, crucible.EINVALID, "read dataset %s", path)
		}
	}
	js, err := json.Marshal(src)
	if err != nil {
		return nil, tokens.Meta{}, err
	}
	meta, err := w.Commit(js)
	if err != nil {
		return nil, tokens.Meta{}, crucible.Wrap(err, crucible.EINTERNAL, "write tokens")
	}
	ok = true
	progress(src.Rows, total)
	return src, meta, nil
}

// readError is the error that ended the reading of the rows (a bad row,
// a file that cannot be read), as eachTokenized returns it.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }
func (e readError) Unwrap() error { return e.err }

// encoderSource is a Tokenizer that gives each goroutine an encoder with
// state of its own (ml/tokenizer's Encoder: a word cache per worker).
type encoderSource interface {
	Encoder() func(dst []int32, text string) []int32
}

// workerTokenizer is a Tokenizer whose AppendEncode is one worker's own
// encoder.
type workerTokenizer struct {
	Tokenizer
	enc func(dst []int32, text string) []int32
}

func (w workerTokenizer) AppendEncode(dst []int32, text string) []int32 { return w.enc(dst, text) }

// workerOf returns the tokenizer one worker goroutine uses: tok with an
// encoder of the worker's own when tok gives one.
func workerOf(tok Tokenizer) Tokenizer {
	if es, ok := tok.(encoderSource); ok {
		return workerTokenizer{tok, es.Encoder()}
	}
	return tok
}

// eachTokenized reads the rows of files in order, runs the function
// perWorker makes for each worker on them in
// parallel (workers goroutines, GOMAXPROCS when ≤ 0), and hands each
// result to consume in row order, in memory bounded by the batches in
// flight. progress is called about twice a second with the rows consumed
// and the bytes read. It returns consume's first error, the reading error
// that ended the rows (a readError), or the context's.
func eachTokenized(ctx context.Context, f *Formatter, files []string, workers int, perWorker func() func(Row) tokenItem, progress func(rows, bytes int64), consume func(*tokenItem) error) error {
	// On return the reader and the workers are stopped (cancel) and waited
	// for (wg.Wait), in that order.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var read atomic.Int64
	order := make(chan *tokenBatch, 2*workers)
	work := make(chan *tokenBatch, 2*workers)
	for range workers {
		wg.Add(1)
		perRow := perWorker()
		go func() {
			defer wg.Done()
			for b := range work {
				b.out = make([]tokenItem, len(b.rows))
				for i, row := range b.rows {
					b.out[i] = perRow(row)
				}
				close(b.done)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(order)
		defer close(work)
		readRows(ctx, f, files, &read, func(b *tokenBatch) bool {
			select {
			case order <- b:
			case <-ctx.Done():
				return false
			}
			select {
			case work <- b:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	var rows int64
	last := time.Now()
	for b := range order {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		for i := range b.out {
			rows++
			b.rows[i] = Row{}
			if err := consume(&b.out[i]); err != nil {
				return err
			}
		}
		if b.err != nil {
			return readError{b.err}
		}
		if time.Since(last) > 500*time.Millisecond {
			last = time.Now()
			progress(rows, read.Load())
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// rowError makes a bad row an EINVALID error that names it.
func rowError(path string, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return crucible.Wrap(err, crucible.EINVALID, "dataset %s has an unreadable row", path).
			WithHint("fix or remove the row, then run again (crucible data check lists every problem)")
	}
	return err
}

func noUsableRows(path string, typ crucible.TaskType, src *TokenSource) error {
	switch {
	case src.Rows == 0:
		return crucible.Errorf(crucible.EINVALID, "%s: the dataset has no rows", path)
	case src.Empty == src.Rows && typ == crucible.TaskDPO:
		return crucible.Errorf(crucible.EINVALID, "%s: no usable preference pairs (%d rows; each needs a chosen and a rejected answer)", path, src.Rows)
	case src.Empty == src.Rows:
		return crucible.Errorf(crucible.EINVALID, "%s: no usable rows: all %d rows are empty under the %s mapping", path, src.Rows, typ)
	}
	return crucible.Errorf(crucible.EINVALID, "%s: no usable rows: no example has tokens to learn after tokenization (%d truncated to nothing at %d tokens)", path, src.Stats.Dropped, src.MaxLength)
}

// readRows reads the files' rows in order, in batches handed to emit (which
// returns false to stop). The first reading error ends the batch it falls
// in, as that batch's err.
func readRows(ctx context.Context, f *Formatter, files []string, read *atomic.Int64, emit func(*tokenBatch) bool) {
	b := &tokenBatch{done: make(chan struct{})}
	flush := func() bool {
		if len(b.rows) == 0 && b.err == nil {
			return true
		}
		ok := emit(b)
		b = &tokenBatch{done: make(chan struct{})}
		return ok
	}
	for _, file := range files {
		r, err := openFile(file, read)
		if err != nil {
			b.err = err
			flush()
			return
		}
		if err := f.CheckSchema(file, r.Schema()); err != nil {
			r.Close()
			b.err = crucible.Wrap(err, crucible.EINVALID, "dataset %s does not fit the column mapping", file)
			flush()
			return
		}
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.Close()
				b.err = err
				flush()
				return
			}
			b.rows = append(b.rows, row)
			if len(b.rows) == tokenBatchRows {
				if !flush() || ctx.Err() != nil {
					r.Close()
					return
				}
			}
		}
		r.Close()
	}
	flush()
}

// tokenizeRow shapes and tokenizes one row as training and evaluation
// use it.
func tokenizeRow(f *Formatter, row Row, opt TokenFileOptions) tokenItem {
	ex, err := f.Example(row)
	if err != nil {
		return tokenItem{err: err}
	}
	if ex.Empty() || (ex.Type == crucible.TaskDPO && (strings.TrimSpace(ex.Chosen) == "" || strings.TrimSpace(ex.Rejected) == "")) {
		return tokenItem{empty: true}
	}
	tok, topt := opt.Tokenizer, opt.Tokenize
	if ex.Type == crucible.TaskDPO {
		p, err := tokenizePair(tok, ex, topt)
		if err != nil {
			return tokenItem{err: err}
		}
		if p.Chosen.Counted() == 0 || p.Rejected.Counted() == 0 {
			return tokenItem{dropped: true}
		}
		return tokenItem{truncated: p.Chosen.Truncated, seqs: []Sequence{p.Chosen, p.Rejected},
			tokens: int64(len(p.Chosen.IDs) + len(p.Rejected.IDs)), counted: int64(p.Chosen.Counted() + p.Rejected.Counted())}
	}
	maxLen := topt.MaxLength
	if ex.Type == crucible.TaskText {
		topt.MaxLength = 0 // cut into windows below, not truncated
	}
	s, err := Tokenize(tok, ex, topt)
	if err != nil {
		return tokenItem{err: err}
	}
	n := s.Counted()
	if n == 0 {
		return tokenItem{dropped: true}
	}
	it := tokenItem{truncated: s.Truncated, tokens: int64(len(s.IDs)), counted: int64(n)}
	seqs := []Sequence{s}
	if ex.Type == crucible.TaskText && maxLen > 0 {
		seqs = Windows(seqs, maxLen)
	}
	for _, w := range seqs {
		if len(w.IDs) >= 2 {
			it.seqs = append(it.seqs, w)
		}
	}
	if len(it.seqs) == 0 {
		it.dropped = true
	}
	return it
}

// Windows cuts sequences longer than n tokens into windows of n that
// overlap by one token, so that every token but a document's first is
// predicted exactly once (continued pretraining loses no text to
// truncation). Shorter sequences are kept as they are.
func Windows(seqs []Sequence, n int) []Sequence {
	var out []Sequence
	for _, s := range seqs {
		if len(s.IDs) <= n || n < 2 {
			out = append(out, s)
			continue
		}
		for lo := 0; lo+1 < len(s.IDs); lo += n - 1 {
			hi := min(lo+n, len(s.IDs))
			out = append(out, Sequence{Pos: s.Pos, IDs: s.IDs[lo:hi], Labels: s.Labels[lo:hi]})
		}
	}
	return out
}

// String renders progress for people: "1.2 GB of 3.4 GB (35%), 2.1M rows,
// 310M tokens, 48.2 MB/s".
func (p TokenProgress) String() string {
	var b strings.Builder
	if p.Total > 0 {
		fmt.Fprintf(&b, "%s of %s (%.0f%%), ", bytesText(p.Bytes), bytesText(p.Total), 100*float64(p.Bytes)/float64(p.Total))
	}
	fmt.Fprintf(&b, "%s rows, %s tokens", countText(p.Rows), countText(p.Tokens))
	if s := p.Elapsed.Seconds(); s > 0 && p.Bytes > 0 {
		fmt.Fprintf(&b, ", %.1f MB/s", float64(p.Bytes)/s/1e6)
	}
	return b.String()
}

func bytesText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(n)/1e3)
}

func countText(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// errEnough stops CountTokens after the rows it was asked for.
var errEnough = errors.New("enough rows")

// CountTokens counts the tokens of a dataset's examples (read as task type
// t under mapping m) with tok, on every core, in bounded memory: every
// token of each sequence, untruncated, and for dpo the prompt once and both
// answers. When maxRows > 0 it stops after that many rows. It returns the
// tokens and the rows counted. Examples that do not tokenize count nothing
// (the count is for reporting); a row that cannot be read or shaped is an
// error naming it.
func CountTokens(ctx context.Context, path string, t crucible.TaskType, m crucible.ColumnMapping, tok Tokenizer, opt TokenizeOptions, maxRows int64) (tokens, rows int64, err error) {
	f, err := NewFormatter(t, m)
	if err != nil {
		return 0, 0, err
	}
	files := []string{path}
	if fs, err := DataFiles(path); err == nil {
		files = fs
	}
	opt.MaxLength = 0
	perWorker := func() func(Row) tokenItem {
		tok := workerOf(tok)
		return func(row Row) tokenItem { return countRow(f, t, tok, opt, row) }
	}
	err = eachTokenized(ctx, f, files, 0, perWorker, func(int64, int64) {}, func(it *tokenItem) error {
		if it.err != nil {
			return rowError(path, it.err)
		}
		tokens += it.tokens
		if rows++; maxRows > 0 && rows >= maxRows {
			return errEnough
		}
		return nil
	})
	var re readError
	switch {
	case errors.Is(err, errEnough):
		err = nil
	case errors.As(err, &re):
		return 0, 0, rowError(path, re.err)
	case err != nil:
		return 0, 0, err
	}
	return tokens, rows, nil
}

// countRow counts the tokens of one row for CountTokens.
func countRow(f *Formatter, t crucible.TaskType, tok Tokenizer, opt TokenizeOptions, row Row) tokenItem {
	ex, err := f.Example(row)
	if err != nil {
		return tokenItem{err: err}
	}
	if t == crucible.TaskDPO {
		p, err := tokenizePair(tok, ex, opt)
		if err != nil {
			return tokenItem{}
		}
		return tokenItem{tokens: int64(len(p.Chosen.IDs) + len(p.Rejected.IDs) - p.PromptLen)}
	}
	s, err := Tokenize(tok, ex, opt)
	if err != nil {
		return tokenItem{}
	}
	return tokenItem{tokens: int64(len(s.IDs))}
}
