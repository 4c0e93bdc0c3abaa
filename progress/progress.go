// Package progress reports the progress of long work (sync, replay, audit):
// a single self-updating line with rates and an ETA on a terminal, periodic
// structured log records otherwise.
package progress

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"
)

// Meter tracks one long-running job. Its methods are not safe for concurrent
// use.
type Meter struct {
	what     string
	out      io.Writer
	tty      bool
	log      *slog.Logger
	start    time.Time
	last     time.Time
	every    time.Duration
	height   int64
	blocks   int64
	ops      int64
	fraction float64
	printed  bool
}

// New returns a Meter for the job named what. When out is a terminal the
// Meter draws a status line on it; otherwise it logs to logger (if not nil)
// every 10 seconds.
func New(what string, out *os.File, logger *slog.Logger) *Meter {
	m := &Meter{what: what, out: out, log: logger, start: time.Now()}
	if out != nil && term.IsTerminal(int(out.Fd())) {
		m.tty = true
		m.every = 250 * time.Millisecond
	} else {
		m.out = nil
		m.every = 10 * time.Second
	}
	m.last = m.start
	return m
}

// Add records progress: a block at height with ops ops; fraction is the
// share of the job done in [0,1], or negative when unknown.
func (m *Meter) Add(height, ops int64, fraction float64) {
	m.height = height
	m.blocks++
	m.ops += ops
	m.fraction = fraction
	if now := time.Now(); now.Sub(m.last) >= m.every {
		m.last = now
		m.report(false)
	}
}

// Done prints the final figures.
func (m *Meter) Done() {
	if m.blocks == 0 && !m.printed {
		return
	}
	m.report(true)
}

// Rates returns blocks/s and ops/s so far.
func (m *Meter) Rates() (blocksPerSec, opsPerSec float64) {
	el := time.Since(m.start).Seconds()
	if el <= 0 {
		return 0, 0
	}
	return float64(m.blocks) / el, float64(m.ops) / el
}

func (m *Meter) eta() (time.Duration, bool) {
	if m.fraction <= 0 || m.fraction > 1 {
		return 0, false
	}
	el := time.Since(m.start)
	return time.Duration(float64(el) * (1 - m.fraction) / m.fraction).Round(time.Second), true
}

func (m *Meter) report(final bool) {
	bps, ops := m.Rates()
	eta, haveETA := m.eta()
	if m.tty {
		line := fmt.Sprintf("%s: height %d, %d blocks, %.0f blocks/s, %.0f ops/s", m.what, m.height, m.blocks, bps, ops)
		if haveETA && !final {
			line += fmt.Sprintf(", %.1f%%, ETA %s", 100*m.fraction, eta)
		}
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(m.out, "\r\033[K%s%s", line, end)
		m.printed = true
		return
	}
	if m.log == nil {
		return
	}
	attrs := []any{"job", m.what, "height", m.height, "blocks", m.blocks, "ops", m.ops,
		"blocks_per_sec", int64(bps), "ops_per_sec", int64(ops)}
	if haveETA && !final {
		attrs = append(attrs, "percent", int(100*m.fraction), "eta", eta.String())
	}
	msg := "progress"
	if final {
		msg = "done"
	}
	m.log.Info(msg, attrs...)
}
