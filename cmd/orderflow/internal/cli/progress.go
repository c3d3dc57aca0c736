package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// renderBar renders `[#####-----] 512/1000 12.3 orders/s` with a bar width cells wide.
func renderBar(done, total, width int, rate float64) string {
	filled := 0
	if total > 0 {
		filled = min(done*width/total, width)
	}
	return fmt.Sprintf("[%s%s] %d/%d %.1f orders/s",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), done, total, rate)
}

// progress shows a progress bar on a terminal stream, redrawn in place, once the work
// has taken longer than Delay: short runs print nothing.
type progress struct {
	w     io.Writer
	total int
	// Delay is how long to stay silent; Every how often to redraw.
	Delay, Every time.Duration

	done    atomic.Int64
	start   time.Time
	stop    chan struct{}
	stopped sync.WaitGroup
	shown   bool
	// plain writes one line per draw instead of redrawing in place.
	plain bool
}

// newProgress returns a progress bar on w: redrawn in place every 250 ms on a terminal,
// one plain line every 5 s elsewhere (a log file or CI output).
func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, Delay: time.Second, Every: 5 * time.Second, plain: true}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.Every, p.plain = 250*time.Millisecond, false
		}
	}
	return p
}

// Start begins timing and drawing.
func (p *progress) Start() {
	p.start = time.Now()
	p.stop = make(chan struct{})
	p.stopped.Add(1)
	go func() {
		defer p.stopped.Done()
		t := time.NewTicker(p.Every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if time.Since(p.start) >= p.Delay {
					p.draw()
				}
			}
		}
	}()
}

// Add counts n more items done.
func (p *progress) Add(n int) { p.done.Add(int64(n)) }

func (p *progress) draw() {
	done := int(p.done.Load())
	rate := float64(done) / time.Since(p.start).Seconds()
	if p.plain {
		fmt.Fprintln(p.w, renderBar(done, p.total, 30, rate))
	} else {
		fmt.Fprintf(p.w, "\r%s ", renderBar(done, p.total, 30, rate))
	}
	p.shown = true
}

// Stop stops drawing; a bar that was shown is drawn a last time and ended with a newline.
func (p *progress) Stop() {
	close(p.stop)
	p.stopped.Wait()
	if p.shown {
		p.draw()
		if !p.plain {
			fmt.Fprintln(p.w)
		}
	}
}
