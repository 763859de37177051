// Package nofollow reads files in directories a tenant may write: never
// following a symbolic link at the file or its directory, never blocking
// on a FIFO or a device put in a file's place, and bounding what it
// reads and returns.
package nofollow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// The bounds of Tail: an instance's log is written by the instance,
// so its size and its lines are whatever the tenant makes them.
const (
	// MaxTailBytes is the most Tail reads of a file: its last MiB.
	MaxTailBytes = 1 << 20
	// MaxTailLine is the longest line Tail returns whole; a longer
	// one is cut to this many bytes and says so.
	MaxTailLine = 2 << 10
)

// Tail returns the last n lines of the regular file at path, or nil
// when it cannot be read or is empty. It reads at most MaxTailBytes from
// the file's end, cuts every line longer than MaxTailLine (noting how
// many bytes were left out), and marks a line that began before what it
// read. It opens the file's directory and then the file without
// following a symbolic link at either, and without blocking (a FIFO or a
// device put in the log's place is refused): the log sits in a directory
// its tenant can write. Memory stays within a few times MaxTailBytes
// whatever the file holds.
func Tail(path string, n int) []string {
	if n <= 0 {
		return nil
	}
	f, err := Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	size := st.Size()
	off := max(size-MaxTailBytes, 0)
	buf := make([]byte, size-off)
	got, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil
	}
	buf = buf[:got]
	text := strings.TrimRight(string(buf), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	partial := off > 0 // the first line began before what was read
	if partial && len(lines) > n {
		lines, partial = lines[1:], false
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if i == 0 && partial {
			l = fmt.Sprintf("[… earlier bytes of this line not read: only the last %d MiB of the file is]", MaxTailBytes>>20) + l
		}
		lines[i] = cutLine(l)
	}
	return lines
}

// cutLine returns l with invalid UTF-8 and control characters (a
// terminal's escape sequences, NUL) shown as U+FFFD, since the tenant
// wrote them and they go to an operator's terminal or chat, cut to
// MaxTailLine bytes, saying how many bytes of l were left out.
func cutLine(l string) string {
	var b strings.Builder
	for i, r := range l {
		if b.Len() >= MaxTailLine {
			return b.String() + fmt.Sprintf(" [… line cut: %d more bytes]", len(l)-i)
		}
		if r != '\t' && unicode.IsControl(r) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Open opens path for reading without following a symbolic link
// at its last two elements (the directory and the file) and without
// blocking on a FIFO.
func Open(path string) (*os.File, error) {
	dir, err := syscall.Open(filepath.Dir(path), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer syscall.Close(dir)
	fd, err := syscall.Openat(dir, filepath.Base(path), syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads the regular file at path, which sits in a
// directory a tenant may write: without following a symbolic link at its
// last two elements, without blocking on a FIFO, and refusing, with an
// error that says so, a file larger than limit bytes rather than reading
// it.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes: not read", path, limit)
	}
	return b, nil
}
