package odoo

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
)

// Odoo's INFO lines while it installs modules (odoo/modules/loading.py
// and registry.py, 16–19): the number of modules of a pass, then a line
// for each data file of each module loaded, or its tables made.
var (
	modulesTotalRE = regexp.MustCompile(`\bloading (\d+) modules\.\.\.`)
	moduleFileRE   = regexp.MustCompile(`\bodoo\.modules\.loading: loading ([a-z0-9_]+)/`)
	moduleTablesRE = regexp.MustCompile(`\bmodule ([a-z0-9_]+): creating or updating database tables`)
)

// installProgress is an io.Writer for odoo-bin's output that reports how
// many modules of the current pass it has reached: "installing modules
// 12/47", through report, once each time the count changes.
type installProgress struct {
	report  func(string)
	partial []byte
	total   int
	seen    map[string]bool
	last    string
}

func newInstallProgress(report func(string)) *installProgress {
	return &installProgress{report: report, seen: map[string]bool{}}
}

func (p *installProgress) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		p.line(string(p.partial[:i]))
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

func (p *installProgress) line(l string) {
	if m := modulesTotalRE.FindStringSubmatch(l); m != nil {
		p.total, _ = strconv.Atoi(m[1])
		p.seen = map[string]bool{}
		return
	}
	m := moduleFileRE.FindStringSubmatch(l)
	if m == nil {
		m = moduleTablesRE.FindStringSubmatch(l)
	}
	if m == nil || p.total < 2 || p.seen[m[1]] {
		return
	}
	p.seen[m[1]] = true
	text := fmt.Sprintf("installing modules %d/%d", min(len(p.seen), p.total), p.total)
	if text != p.last {
		p.last = text
		p.report(text)
	}
}
