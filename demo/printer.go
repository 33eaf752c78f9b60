package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// ANSI styles, used only when the output is a terminal.
const (
	cReset  = "\033[0m"
	cBold   = "\033[1m"
	cDim    = "\033[2m"
	cRed    = "\033[31m"
	cGreen  = "\033[32m"
	cYellow = "\033[33m"
	cBlue   = "\033[34m"
	cCyan   = "\033[36m"
	cGit    = "\033[35m" // magenta: Git and Argo CD
	cPlain  = ""
)

// printer narrates: permanent lines for what happened, and on a terminal
// one status line below them, redrawn in place only when it changes.
type printer struct {
	mu     sync.Mutex
	out    io.Writer
	color  bool
	live   bool
	width  int // of the terminal; the live line is cut to fit
	start  time.Time
	status string // the live line on screen, "" when none
}

func newPrinter(out io.Writer, color, live bool, width int) *printer {
	if width <= 0 {
		width = 100
	}
	return &printer{out: out, color: color, live: live, width: width, start: time.Now()}
}

func (p *printer) paint(style, s string) string {
	if !p.color || style == "" {
		return s
	}
	return style + s + cReset
}

func (p *printer) bold(s string) string { return p.paint(cBold, s) }

// write prints whole lines, keeping the live status line below them.
func (p *printer) write(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live && p.status != "" {
		fmt.Fprint(p.out, "\r\033[K")
	}
	fmt.Fprint(p.out, s)
	if !strings.HasSuffix(s, "\n") {
		fmt.Fprintln(p.out)
	}
	if p.live && p.status != "" {
		fmt.Fprint(p.out, p.status)
	}
}

func (p *printer) line(s string) { p.write(s + "\n") }

func (p *printer) title(s string) {
	p.line(p.paint(cBold, s))
	p.line("")
}

func (p *printer) section(s string) {
	p.line("")
	p.line(p.paint(cBold, "━━ "+s+" "+strings.Repeat("━", max(3, 72-len([]rune(s))))))
}

func (p *printer) step(format string, a ...any) {
	p.line("  " + p.paint(cDim, "…") + " " + fmt.Sprintf(format, a...))
}

func (p *printer) done(format string, a ...any) {
	p.line("  " + p.paint(cGreen, "✓") + " " + fmt.Sprintf(format, a...))
}

func (p *printer) info(format string, a ...any) {
	p.line("  " + fmt.Sprintf(format, a...))
}

func (p *printer) fail(format string, a ...any) {
	p.line("  " + p.paint(cRed, "✗ "+fmt.Sprintf(format, a...)))
}

// event is a timestamped line of the scenario.
func (p *printer) event(style, format string, a ...any) {
	ts := fmt.Sprintf("%6.1fs", time.Since(p.start).Seconds())
	p.line("  " + p.paint(cDim, ts) + "  " + p.paint(style, fmt.Sprintf(format, a...)))
}

// setStatus redraws the live line if it changed (terminals only).
func (p *printer) setStatus(s string) {
	if !p.live {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r := []rune(s); len(r) > p.width-5 {
		s = string(r[:p.width-6]) + "…"
	}
	s = "  " + p.paint(cCyan, "▸ "+s)
	if s == p.status {
		return
	}
	fmt.Fprint(p.out, "\r\033[K"+s)
	p.status = s
}

// endLive clears the live line for good.
func (p *printer) endLive() {
	p.clearStatus()
	p.mu.Lock()
	p.live = false
	p.mu.Unlock()
}

func (p *printer) clearStatus() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live && p.status != "" {
		fmt.Fprint(p.out, "\r\033[K")
	}
	p.status = ""
}

func round(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func shortSHA(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

func quote(s string) string {
	if s == "" {
		return ""
	}
	return `"` + s + `"`
}

// cut shortens s to n runes with an ellipsis.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
