package backup

import (
	"fmt"
	"sort"
	"time"
)

// Retention says how many backups of an instance are kept. Manual and
// scheduled backups follow Odoo.sh's grandfather-father-son scheme: the
// newest backup of each of the Daily most recent days that have one, of
// each of the Weekly most recent ISO weeks, and of each of the Monthly
// most recent months (UTC); a backup may count for several. A restore's
// safety backups and a delete's final backups have counts of their own:
// the newest Safety and the newest Final are kept. Nothing is kept
// without limit.
type Retention struct {
	Daily, Weekly, Monthly int
	Safety, Final          int
}

// DefaultRetention is Odoo.sh's: 7 daily, 4 weekly, 3 monthly; and 5
// safety and 3 final backups.
func DefaultRetention() Retention {
	return Retention{Daily: 7, Weekly: 4, Monthly: 3, Safety: 5, Final: 3}
}

// Validate says what is wrong with r: at least one daily backup (the
// newest is always kept), one safety and one final backup; no negative
// count.
func (r Retention) Validate() error {
	if r.Daily < 1 || r.Weekly < 0 || r.Monthly < 0 || r.Safety < 1 || r.Final < 1 {
		return fmt.Errorf("backup retention %+v: keep at least 1 daily, 1 safety and 1 final backup, and 0 or more weekly and monthly ones", r)
	}
	return nil
}

// takenAt is when a backup was taken: from its id, else from its
// manifest; false when neither says.
func takenAt(b Info) (time.Time, bool) {
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

// Prune returns the backups of list that r does not keep, oldest first.
// A backup whose time cannot be told (neither its id nor its manifest
// says) is kept: it was not made by odoobot. The result depends only on
// list, not on the time it is called, so pruning again removes nothing.
func (r Retention) Prune(list []Info) []Info {
	type dated struct {
		b Info
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
	res := make([]Info, len(out))
	for i, d := range out {
		res[i] = d.b
	}
	return res
}
