package yamledit

import (
	"bytes"
	"unicode/utf8"
)

// lines indexes a document's bytes by line. yaml.v3 reports positions as
// 1-based line and 1-based column counted in characters, so offsets need
// the line's runes.
type lines struct {
	src    []byte
	starts []int // byte offset where each line starts; starts[0] is line 1
}

func newLines(src []byte) *lines {
	l := &lines{src: src, starts: []int{0}}
	for i, b := range src {
		if b == '\n' && i+1 < len(src) {
			l.starts = append(l.starts, i+1)
		}
	}
	return l
}

// count is the number of lines; a final line without newline counts.
func (l *lines) count() int {
	if len(l.src) == 0 {
		return 0
	}
	return len(l.starts)
}

// start is the offset of line n (1-based); past the last line it is the
// end of the document.
func (l *lines) start(n int) int {
	if n-1 >= len(l.starts) || len(l.src) == 0 {
		return len(l.src)
	}
	return l.starts[n-1]
}

// text is line n without its line break.
func (l *lines) text(n int) []byte {
	s, e := l.start(n), l.start(n+1)
	return bytes.TrimRight(l.src[s:e], "\r\n")
}

// offset turns a yaml.v3 position into a byte offset, or -1 when the
// position is not inside the document.
func (l *lines) offset(line, col int) int {
	if line < 1 || line > l.count() || col < 1 {
		return -1
	}
	t := l.text(line)
	off := 0
	for range col - 1 {
		if off >= len(t) {
			return -1
		}
		_, size := utf8.DecodeRune(t[off:])
		off += size
	}
	return l.start(line) + off
}

// indent counts the leading spaces of line n.
func (l *lines) indent(n int) int {
	t := l.text(n)
	return len(t) - len(bytes.TrimLeft(t, " "))
}

// blank reports a line with nothing but whitespace.
func (l *lines) blank(n int) bool { return len(bytes.TrimSpace(l.text(n))) == 0 }

// comment reports a line holding only a comment.
func (l *lines) comment(n int) bool {
	return bytes.HasPrefix(bytes.TrimLeft(l.text(n), " \t"), []byte("#"))
}

// onlySpaceBefore reports whether the line holds nothing but spaces before
// byte offset off.
func (l *lines) onlySpaceBefore(line, off int) bool {
	return len(bytes.Trim(l.src[l.start(line):off], " ")) == 0
}

// trimTail moves an exclusive end line up past the blank lines and the
// comments indented at most to indent: they belong to what follows (head
// comments of the next key, separators), not to the node ending there. It
// never moves above floor.
func (l *lines) trimTail(end, floor, indent int) int {
	for end-1 > floor {
		n := end - 1
		if !l.blank(n) && !(l.comment(n) && l.indent(n) <= indent) {
			break
		}
		end = n
	}
	return end
}

// newline is the document's line break, so inserted lines match it.
func (l *lines) newline() string {
	if bytes.Contains(l.src, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}
