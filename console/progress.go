package console

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress shows the progress of long work (training): a redrawn bar on a terminal, plain
// lines at most every few seconds otherwise. Log lines go above the bar.
type Progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	start time.Time
	last  time.Time
	kind  string // the first word of the last message printed
	shown bool
}

// NewProgress starts a display on w (a redrawn bar when tty).
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, start: time.Now()}
}

// Line prints msg above the bar.
func (b *Progress) Line(msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.shown {
		fmt.Fprint(b.w, "\r\x1b[2K")
		b.shown = false
	}
	fmt.Fprintln(b.w, msg)
}

// Update shows that fraction (0..1) of the work is done, with msg.
func (b *Progress) Update(fraction float64, msg string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	elapsed := now.Sub(b.start)
	eta := ""
	if fraction > 0.02 && fraction < 1 {
		eta = " ETA " + (time.Duration(float64(elapsed) * (1 - fraction) / fraction)).Round(time.Second).String()
	}
	if b.tty {
		const width = 24
		n := int(fraction * width)
		fmt.Fprintf(b.w, "\r\x1b[2K[%s%s] %3.0f%% %s%s", strings.Repeat("#", n), strings.Repeat(".", width-n), 100*fraction, msg, eta)
		b.shown = true
		return
	}
	// Repeated updates of one kind (steps, tokenizing) print every five
	// seconds; a new kind prints at once.
	kind, _, _ := strings.Cut(msg, " ")
	if now.Sub(b.last) < 5*time.Second && fraction < 1 && kind == b.kind {
		return
	}
	b.last, b.kind = now, kind
	fmt.Fprintf(b.w, "%3.0f%% %s (elapsed %s%s)\n", 100*fraction, msg, elapsed.Round(time.Second), eta)
}

// Done ends the bar.
func (b *Progress) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.shown {
		fmt.Fprintln(b.w)
		b.shown = false
	}
}
