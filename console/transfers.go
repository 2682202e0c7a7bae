package console

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Transfers shows the progress of files moving (downloads, uploads): one
// bar per file with its size, speed and ETA on a terminal; otherwise a line
// when a file starts, at every quarter of it and when it ends.
type Transfers struct {
	verb string // "downloading", "uploading"
	out  io.Writer
	p    *mpb.Progress

	mu    sync.Mutex
	bars  map[string]*mpb.Bar
	plain map[string]int64 // quarters reported, per file
	start map[string]time.Time
}

// NewTransfers starts a display on out (bars when tty) whose lines say verb
// ("downloading", "uploading").
func NewTransfers(out io.Writer, tty bool, verb string) *Transfers {
	t := &Transfers{verb: verb, out: out, bars: map[string]*mpb.Bar{}, plain: map[string]int64{}, start: map[string]time.Time{}}
	if tty {
		t.p = mpb.New(mpb.WithOutput(out), mpb.WithWidth(100), mpb.WithRefreshRate(200*time.Millisecond), mpb.WithAutoRefresh())
	}
	return t
}

// Update says file has have of size bytes (size 0: unknown).
func (t *Transfers) Update(file string, have, size int64) {
	t.mu.Lock()
	start, seen := t.start[file]
	if !seen {
		start = time.Now()
		t.start[file] = start
	}
	bar := t.bars[file]
	t.mu.Unlock()
	if t.p != nil {
		if bar == nil {
			bar = t.p.New(max(size, 1), mpb.BarStyle().Lbound("[").Rbound("]").Filler("=").Tip(">").Padding(" "),
				mpb.BarWidth(24),
				mpb.PrependDecorators(decor.Name(shortName(file, 32), decor.WC{W: 33, C: decor.DindentRight})),
				mpb.AppendDecorators(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), decor.Name("  "),
					decor.OnComplete(decor.EwmaETA(decor.ET_STYLE_GO, 30, decor.WC{W: 6}), "done")))
			t.mu.Lock()
			t.bars[file] = bar
			t.mu.Unlock()
		}
		bar.EwmaSetCurrent(have, time.Since(start))
		if size > 0 && have >= size {
			bar.SetTotal(size, true)
		}
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	q := int64(0)
	if size > 0 {
		q = 4 * have / size
	}
	last, reported := t.plain[file]
	if reported && q <= last {
		return
	}
	t.plain[file] = q
	switch {
	case size > 0 && have >= size:
		secs := max(time.Since(start).Seconds(), 1e-3)
		fmt.Fprintf(t.out, "%s %s: done, %s in %s (%s/s)\n", t.verb, file, human(size), time.Since(start).Round(time.Millisecond), human(int64(float64(have)/secs)))
	case size > 0:
		fmt.Fprintf(t.out, "%s %s: %.0f%% of %s\n", t.verb, file, 100*float64(have)/float64(size), human(size))
	default:
		fmt.Fprintf(t.out, "%s %s: %s\n", t.verb, file, human(have))
	}
}

// Close ends the display.
func (t *Transfers) Close() {
	if t.p == nil {
		return
	}
	t.mu.Lock()
	for _, b := range t.bars {
		if !b.Completed() {
			b.Abort(false)
		}
	}
	t.mu.Unlock()
	t.p.Wait()
}

// human writes a byte count with a binary unit.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// shortName keeps the end of a long file name.
func shortName(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return "…" + string(r[len(r)-n+1:])
	}
	return s
}
