package backups

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// TestRetentionPrune: over months of backups, Odoo.sh's defaults keep
// the newest of each of the last 7 days, 4 ISO weeks and 3 months that
// have backups; safety and final backups keep their own newest counts.
func TestRetentionPrune(t *testing.T) {
	id := func(s string) string {
		tm, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Format(provision.IDLayout)
	}
	daily := func(from, to string) []string { // one scheduled backup a day at 03:00
		a, _ := time.Parse("2006-01-02", from)
		b, _ := time.Parse("2006-01-02", to)
		var out []string
		for d := a; !d.After(b); d = d.AddDate(0, 0, 1) {
			out = append(out, d.Format("2006-01-02")+" 03:00")
		}
		return out
	}
	type bk struct{ at, reason string }
	tests := []struct {
		name string
		r    provision.Retention
		have []bk
		keep []string // the times kept, newest first
	}{
		{
			name: "daily backups for three months: 7 days, 4 weeks, 3 months",
			r:    provision.DefaultRetention(),
			have: func() []bk {
				var out []bk
				for _, d := range daily("2026-09-01", "2026-11-27") { // Friday 27 November
					out = append(out, bk{d, provision.ReasonScheduled})
				}
				return out
			}(),
			keep: []string{
				// the last 7 days (also the newest of week 48 and of November)
				"2026-11-27 03:00", "2026-11-26 03:00", "2026-11-25 03:00", "2026-11-24 03:00", "2026-11-23 03:00",
				// Sunday 22: newest of week 47
				"2026-11-22 03:00", "2026-11-21 03:00",
				// newest of weeks 46 and 45
				"2026-11-15 03:00", "2026-11-08 03:00",
				// newest of October and September
				"2026-10-31 03:00", "2026-09-30 03:00",
			},
		},
		{
			name: "a manual backup the same day: the newest of the day counts",
			r:    provision.Retention{Daily: 2, Safety: 1, Final: 1},
			have: []bk{{"2026-11-27 03:00", provision.ReasonScheduled}, {"2026-11-27 14:10", provision.ReasonManual}, {"2026-11-26 03:00", provision.ReasonScheduled}, {"2026-11-25 03:00", provision.ReasonScheduled}},
			keep: []string{"2026-11-27 14:10", "2026-11-26 03:00"},
		},
		{
			name: "odoobot down for weeks: periods with backups count, old ones are not all dropped",
			r:    provision.Retention{Daily: 3, Weekly: 2, Monthly: 2, Safety: 1, Final: 1},
			have: []bk{{"2026-11-27 03:00", provision.ReasonScheduled}, {"2026-08-02 03:00", provision.ReasonScheduled}, {"2026-08-01 03:00", provision.ReasonScheduled}, {"2026-07-31 03:00", provision.ReasonScheduled}, {"2026-07-30 03:00", provision.ReasonScheduled}},
			// days: 27 Nov, 2 Aug, 1 Aug; weeks: 48 (27 Nov), 31 (2 Aug); months: Nov, Aug
			keep: []string{"2026-11-27 03:00", "2026-08-02 03:00", "2026-08-01 03:00"},
		},
		{
			name: "ISO weeks across the new year: 2026-12-31 and 2027-01-03 are week 53 of 2026",
			r:    provision.Retention{Daily: 1, Weekly: 3, Safety: 1, Final: 1},
			have: []bk{{"2027-01-04 03:00", provision.ReasonScheduled}, {"2027-01-03 03:00", provision.ReasonScheduled}, {"2027-01-01 03:00", provision.ReasonScheduled}, {"2026-12-31 03:00", provision.ReasonScheduled}, {"2026-12-27 03:00", provision.ReasonScheduled}, {"2026-12-20 03:00", provision.ReasonScheduled}},
			keep: []string{"2027-01-04 03:00", "2027-01-03 03:00", "2026-12-27 03:00"},
		},
		{
			name: "safety and final backups: their own newest counts, not counted as days",
			r:    provision.Retention{Daily: 1, Safety: 2, Final: 1},
			have: []bk{
				{"2026-11-27 03:00", provision.ReasonScheduled}, {"2026-11-26 03:00", provision.ReasonScheduled},
				{"2026-11-27 10:00", provision.ReasonSafety}, {"2026-11-20 10:00", provision.ReasonSafety}, {"2026-11-01 10:00", provision.ReasonSafety},
				{"2026-11-27 11:00", provision.ReasonFinal}, {"2026-10-01 11:00", provision.ReasonFinal},
			},
			keep: []string{"2026-11-27 11:00", "2026-11-27 10:00", "2026-11-27 03:00", "2026-11-20 10:00"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var list []provision.BackupInfo
			for _, b := range tt.have {
				list = append(list, provision.BackupInfo{Manifest: provision.Manifest{ID: id(b.at), Reason: b.reason}})
			}
			removed := map[string]bool{}
			pruned := Prune(tt.r, list)
			for i, b := range pruned {
				removed[b.ID] = true
				if i > 0 && pruned[i-1].ID > b.ID {
					t.Errorf("pruned not oldest first: %s before %s", pruned[i-1].ID, b.ID)
				}
			}
			var kept []string
			for _, b := range list {
				if !removed[b.ID] {
					kept = append(kept, b.ID)
				}
			}
			var want []string
			for _, k := range tt.keep {
				want = append(want, id(k))
			}
			sortDesc := func(s []string) {
				for i := range s {
					for j := i + 1; j < len(s); j++ {
						if s[j] > s[i] {
							s[i], s[j] = s[j], s[i]
						}
					}
				}
			}
			sortDesc(kept)
			sortDesc(want)
			if diff := cmp.Diff(kept, want); diff != "" {
				t.Errorf("kept (-got +want):\n%s", diff)
			}
			// Pruning what is left removes nothing more.
			var left []provision.BackupInfo
			for _, b := range list {
				if !removed[b.ID] {
					left = append(left, b)
				}
			}
			if again := Prune(tt.r, left); len(again) != 0 {
				t.Errorf("a second prune removes %d more", len(again))
			}
		})
	}
}

// TestRetentionKeepsWhatItCannotDate: a backup with neither a timestamp
// id nor a creation time is never removed.
func TestRetentionKeepsWhatItCannotDate(t *testing.T) {
	list := []provision.BackupInfo{{Manifest: provision.Manifest{ID: "20261127T030000Z", Reason: provision.ReasonScheduled}}, {Manifest: provision.Manifest{ID: "imported-by-hand", Reason: provision.ReasonManual}}}
	if got := Prune(provision.Retention{Daily: 1, Safety: 1, Final: 1}, list); len(got) != 0 {
		t.Errorf("pruned %v", got)
	}
}
