// Package tailbuf keeps the end of a program's output: why it failed is
// there, and the rest must not grow without bound.
package tailbuf

import "strings"

// Buffer keeps the last Max bytes written to it.
type Buffer struct {
	Max  int
	buf  []byte
	over bool
}

// Write keeps p's end; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.Max {
		b.buf, b.over = append(b.buf[:0], p[len(p)-b.Max:]...), true
		return n, nil
	}
	if drop := len(b.buf) + len(p) - b.Max; drop > 0 {
		b.buf, b.over = append(b.buf[:0], b.buf[drop:]...), true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// String is what was kept, from its first whole line once some was
// dropped.
func (b *Buffer) String() string {
	s := string(b.buf)
	if b.over {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
