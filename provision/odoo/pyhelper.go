package odoo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// pyHelperScript reads Odoo manifests (ast.literal_eval, as Odoo does)
// and evaluates PEP 508 markers (packaging, as pip does), one batch a run.
//
//go:embed pyhelper.py
var pyHelperScript string

const (
	// maxManifestBytes is the largest __manifest__.py read: Odoo's are a
	// few kilobytes.
	maxManifestBytes = 1 << 20
	// pyHelperTimeout bounds one run of the helper.
	pyHelperTimeout = time.Minute
	// maxHelperAnswer bounds the helper's answer.
	maxHelperAnswer = 64 << 20
	// maxHelperErrors is how much of the helper's stderr is kept.
	maxHelperErrors = 4 << 10
)

// pyRequest is what the helper is asked.
type pyRequest struct {
	Op          string            `json:"op"` // "manifests" or "markers"
	Paths       []string          `json:"paths,omitempty"`
	Limit       int               `json:"limit,omitempty"`
	Markers     []string          `json:"markers,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
}

// pyManifest is the helper's reading of one manifest: Keys, the values of
// the keys odoobot reads (a value JSON cannot carry exactly is
// {"python": "its type"}), or Error.
type pyManifest struct {
	Keys  map[string]json.RawMessage `json:"keys"`
	Error string                     `json:"error"`
}

// pyMarker is the helper's evaluation of one marker.
type pyMarker struct {
	Value bool   `json:"value"`
	Error string `json:"error"`
}

// pyAnswer is the helper's answer to a request: Results holds one
// pyManifest or pyMarker per path or marker asked, in order.
type pyAnswer struct {
	Results json.RawMessage `json:"results"`
	Missing string          `json:"missing"` // "packaging" when python lacks it
	Error   string          `json:"error"`
}

// packagingDeb is the Debian package of the packaging library, which
// evaluates environment markers.
const packagingDeb = "python3-packaging"

// errNoPackaging is returned when the interpreter can import neither the
// packaging library nor pip's copy of it.
var errNoPackaging = errors.New("python cannot evaluate environment markers: it has no packaging library (Debian's " + packagingDeb + ")")

// errHelperTimeout is the cause of a helper run stopped by pyHelperTimeout.
var errHelperTimeout = fmt.Errorf("no answer within %s", pyHelperTimeout)

// runPyHelper runs the helper with python on req and returns its n
// results, in the order asked. The interpreter runs isolated (-I: no
// user site, no PYTHON* variables, neither the current nor the script's
// directory on sys.path) and, unless site is set, without the site
// module (-S: the standard library only), in /, with childenv's
// environment, for at most pyHelperTimeout, its answer bounded by
// maxHelperAnswer.
func runPyHelper[R pyManifest | pyMarker](ctx context.Context, python string, site bool, req pyRequest, n int) ([]R, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, pyHelperTimeout, errHelperTimeout)
	defer cancel()
	in, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	args := []string{"-I", "-S", "-c", pyHelperScript}
	if site {
		args = []string{"-I", "-c", pyHelperScript}
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = "/"
	cmd.Env = minimalEnv()
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = bytes.NewReader(in)
	out := &boundedBuffer{max: maxHelperAnswer}
	stderr := &boundedBuffer{max: maxHelperErrors, truncate: true}
	cmd.Stdout, cmd.Stderr = out, stderr
	err = cmd.Run()
	switch {
	case out.over:
		return nil, fmt.Errorf("%s: answered more than %d bytes", python, maxHelperAnswer)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", python, context.Cause(ctx))
	case err != nil:
		return nil, fmt.Errorf("%s: %w%s", python, err, tailOf(stderr.Bytes()))
	}
	var a pyAnswer
	if err := json.Unmarshal(out.Bytes(), &a); err != nil {
		return nil, fmt.Errorf("%s: unreadable answer: %w", python, err)
	}
	switch {
	case a.Missing == "packaging":
		return nil, fmt.Errorf("%s: %w", python, errNoPackaging)
	case a.Error != "":
		return nil, fmt.Errorf("%s: %s", python, a.Error)
	}
	var results []R
	if err := json.Unmarshal(a.Results, &results); err != nil {
		return nil, fmt.Errorf("%s: unreadable answer: %w", python, err)
	}
	if len(results) != n {
		return nil, fmt.Errorf("%s: %d answers to %d questions", python, len(results), n)
	}
	return results, nil
}

// boundedBuffer keeps at most max bytes. Past them it fails the write
// (the child's answer is refused) or, with truncate, drops the rest. It
// has no ReadFrom, so that io.Copy goes through Write.
type boundedBuffer struct {
	buf      bytes.Buffer
	max      int
	truncate bool
	over     bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); len(p) > room {
		b.over = true
		if !b.truncate {
			return 0, errors.New("too much output")
		}
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

// Bytes returns what was kept.
func (b *boundedBuffer) Bytes() []byte { return b.buf.Bytes() }
