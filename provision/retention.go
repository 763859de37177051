package provision

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// takenAt is when a backup was taken: from its id, else from its
// manifest; false when neither says.
func takenAt(b BackupInfo) (time.Time, bool) {
	if len(b.ID) >= len(IDLayout) {
		if t, err := time.Parse(IDLayout, b.ID[:len(IDLayout)]); err == nil {
			return t, true
		}
	}
	if !b.CreatedAt.IsZero() {
		return b.CreatedAt.UTC(), true
	}
	return time.Time{}, false
}

// Prune returns the backups of list that r does not keep (see
// Retention), oldest first.
// A backup whose time cannot be told (neither its id nor its manifest
// says) is kept: it was not made by odoobot. The result depends only on
// list, not on the time it is called, so pruning again removes nothing.
func (r Retention) Drop(list []BackupInfo) []BackupInfo {
	type dated struct {
		b BackupInfo
		t time.Time
	}
	var regular, safety, final []dated
	for _, b := range list {
		t, ok := takenAt(b)
		if !ok {
			continue
		}
		switch b.Reason {
		case ReasonSafety:
			safety = append(safety, dated{b, t})
		case ReasonFinal:
			final = append(final, dated{b, t})
		default:
			regular = append(regular, dated{b, t})
		}
	}
	var out []dated
	newestFirst := func(s []dated) {
		sort.SliceStable(s, func(i, j int) bool {
			if !s[i].t.Equal(s[j].t) {
				return s[i].t.After(s[j].t)
			}
			return s[i].b.ID > s[j].b.ID
		})
	}
	// Safety and final backups: the newest n of each.
	for _, kind := range []struct {
		s []dated
		n int
	}{{safety, r.Safety}, {final, r.Final}} {
		newestFirst(kind.s)
		if len(kind.s) > kind.n {
			out = append(out, kind.s[max(kind.n, 0):]...)
		}
	}
	// Regular backups: the newest of each of the most recent periods.
	newestFirst(regular)
	keep := make([]bool, len(regular))
	for _, rule := range []struct {
		n      int
		period func(time.Time) string
	}{
		{r.Daily, func(t time.Time) string { return t.Format("2006-01-02") }},
		{r.Weekly, func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{r.Monthly, func(t time.Time) string { return t.Format("2006-01") }},
	} {
		last, seen := "", 0
		for i, d := range regular {
			if seen >= rule.n {
				break
			}
			if p := rule.period(d.t); p != last {
				keep[i], last = true, p
				seen++
			}
		}
	}
	for i, d := range regular {
		if !keep[i] {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].t.Before(out[j].t) })
	res := make([]BackupInfo, len(out))
	for i, d := range out {
		res[i] = d.b
	}
	return res
}

// IsBackupID reports whether id has the form of a backup's id: IDLayout
// in UTC, optionally followed by "-N". Only such ids reach a path or a
// command line.
func IsBackupID(id string) bool {
	base, n, found := strings.Cut(id, "-")
	if _, err := time.Parse(IDLayout, base); err != nil || len(base) != len(IDLayout) {
		return false
	}
	if !found {
		return true
	}
	if n == "" || len(n) > 4 {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
