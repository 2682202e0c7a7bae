package data

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"sync"
)

// jsonWorkers is how many goroutines decode JSON rows in parallel:
// decoding, not reading, is what limits a JSON reader. 1 reads sequentially.
var jsonWorkers = func() int { return min(runtime.GOMAXPROCS(0), 8) }

// Batches of lines handed to the decoders: small enough that the batches in
// flight (two per worker) stay a few megabytes.
const (
	batchLines = 256
	batchBytes = 256 << 10
)

type decoded struct {
	row Row
	err error
}

// lineBatch is a run of consecutive lines, decoded by one worker.
type lineBatch struct {
	lines   [][]byte
	pos     []Pos
	errs    []error // a row the reader already found bad (its line is nil)
	results []decoded
	done    chan struct{}
}

// parallelJSON reads rows' bytes on one goroutine (lines of JSON Lines, or
// the elements of a JSON array), decodes batches of them on several, and
// hands the rows out in file order. An error from reading ends the rows,
// after those before it. Close must be called to stop its goroutines.
type parallelJSON struct {
	next    func() ([]byte, Pos, error) // the next row's bytes and position
	close   func() error
	order   chan *lineBatch
	stop    chan struct{}
	readErr error // set before order is closed
	cur     *lineBatch
	at      int
	once    sync.Once
	started bool
}

func newParallelJSON(next func() ([]byte, Pos, error), close func() error) *parallelJSON {
	return &parallelJSON{next: next, close: close, stop: make(chan struct{})}
}

func (p *parallelJSON) Schema() []string { return nil }

func (p *parallelJSON) Close() error {
	p.once.Do(func() { close(p.stop) })
	return p.close()
}

func (p *parallelJSON) start() {
	workers := jsonWorkers()
	p.order = make(chan *lineBatch, workers)
	work := make(chan *lineBatch, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.results = make([]decoded, len(b.lines))
				for i, line := range b.lines {
					if b.errs[i] != nil {
						b.results[i] = decoded{err: b.errs[i]}
						continue
					}
					values, err := decodeObject(b.pos[i], line)
					if err != nil {
						b.results[i] = decoded{err: err}
					} else {
						b.results[i] = decoded{row: Row{Pos: b.pos[i], Values: values}}
					}
				}
				close(b.done)
			}
		}()
	}
	go func() {
		defer close(p.order)
		defer close(work)
		for {
			b := &lineBatch{done: make(chan struct{})}
			size := 0
			for len(b.lines) < batchLines && size < batchBytes {
				line, pos, err := p.next()
				var de *Error
				if err != nil && errors.As(err, &de) && !de.Fatal {
					// A bad row the reader can go on after: keep its place.
					b.lines, b.pos, b.errs = append(b.lines, nil), append(b.pos, pos), append(b.errs, err)
					continue
				}
				if err != nil {
					if err != io.EOF {
						p.readErr = err
					}
					break
				}
				b.lines = append(b.lines, bytes.Clone(line))
				b.pos = append(b.pos, pos)
				b.errs = append(b.errs, nil)
				size += len(line)
			}
			if len(b.lines) == 0 {
				return
			}
			select {
			case p.order <- b:
			case <-p.stop:
				return
			}
			select {
			case work <- b:
			case <-p.stop:
				return
			}
			if len(b.lines) < batchLines && size < batchBytes {
				return // the file ended (or failed) within this batch
			}
		}
	}()
}

func (p *parallelJSON) Next() (Row, error) {
	if !p.started {
		p.started = true
		p.start()
	}
	for p.cur == nil || p.at == len(p.cur.results) {
		b, ok := <-p.order
		if !ok {
			if p.readErr != nil {
				err := p.readErr
				p.readErr = nil
				return Row{}, err
			}
			return Row{}, io.EOF
		}
		<-b.done
		p.cur, p.at = b, 0
	}
	r := p.cur.results[p.at]
	p.cur.results[p.at] = decoded{} // let the row go once handed out
	p.at++
	return r.row, r.err
}
