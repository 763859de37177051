package tailbuf

import (
	"strings"
	"testing"
)

// The buffer keeps the end, from its first whole line once it dropped
// some, and never more than Max bytes.
func TestKeepsTheEnd(t *testing.T) {
	b := &Buffer{Max: 16}
	b.Write([]byte("first line\nsecond\n"))
	b.Write([]byte("third\n"))
	if got := b.String(); got != "second\nthird\n" {
		t.Errorf("String = %q", got)
	}
	b.Write([]byte(strings.Repeat("x", 40)))
	if got := b.String(); len(got) > 16 {
		t.Errorf("kept %d bytes, want at most 16", len(got))
	}
	small := &Buffer{Max: 64}
	small.Write([]byte("a\nb\n"))
	if got := small.String(); got != "a\nb\n" {
		t.Errorf("nothing dropped: String = %q", got)
	}
}
