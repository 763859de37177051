package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
)

// restore NAME --at TIME reads the time in the forms people type, in
// UTC unless it says otherwise, and refuses what is not a time.
func TestParseRestoreAt(t *testing.T) {
	want := time.Date(2026, 12, 7, 14, 32, 0, 0, time.UTC)
	for _, text := range []string{
		`restore acme --at "2026-12-07 14:32"`,
		`restore acme --at 2026-12-07 14:32`,
		`restore acme --at “2026-12-07 14:32:00 UTC”`,
		`restore acme --at=2026-12-07T14:32:00Z`,
		`restore acme --AT 2026-12-07T11:32:00-03:00`,
		`restore acme --at=2026-12-07_14:32`,
	} {
		c, err := Parse(text)
		if err != nil || c.Verb != VerbRestore || c.Name != "acme" || !c.At.Equal(want) || c.Backup != "" {
			t.Errorf("Parse(%q) = %+v, %v", text, c, err)
			continue
		}
		if back, err := Parse(c.String()); err != nil || !back.At.Equal(c.At) {
			t.Errorf("Parse(%q) = %+v, %v; want the same time back", c.String(), back, err)
		}
	}
	for _, text := range []string{`restore acme --at`, `restore acme --at yesterday`, `restore acme --at "2026-13-07 14:32"`} {
		if _, err := Parse(text); err == nil || !strings.Contains(err.Error(), "--at") && !strings.Contains(err.Error(), "not a time") {
			t.Errorf("Parse(%q): err = %v, want a refusal naming the time's form", text, err)
		}
	}
}

// restore --at asks first, then passes the time on, and the thread ends
// with what the job says it reached.
func TestRestoreAtAsksThenRestoresToTheTime(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	f := &fakeDayTwo{state: provision.JobSucceeded}
	var got provision.JobRequest
	f.onRestore = func(req provision.JobRequest) { got = req }
	d.DayTwo = f
	admin := Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: `restore acme --at "2026-12-07 14:32"`}
	r := &threadResponder{}
	d.Handle(context.Background(), admin, r)
	if len(f.asked) != 0 || len(r.codes) != 1 {
		t.Fatalf("before confirmation: asked %v, codes %v", f.asked, r.codes)
	}
	admin.Text = "confirm " + r.codes[0]
	c := &threadResponder{}
	d.Handle(context.Background(), admin, c)
	if len(f.asked) != 1 || !got.At.Equal(time.Date(2026, 12, 7, 14, 32, 0, 0, time.UTC)) || got.Backup != "" {
		t.Fatalf("after confirmation: asked %v, request %+v", f.asked, got)
	}
	if len(c.finishes) != 1 || !strings.Contains(c.finishes[0], "restored prod-acme to 2026-12-07 14:32:00 UTC") {
		t.Errorf("thread ended %q", c.finishes)
	}
}

// capacity shows the archive's line when there is one.
func TestFormatCapacityShowsTheArchive(t *testing.T) {
	got := FormatCapacity(provision.CapacityReport{Archive: "on (archive_timeout 1min), last WAL archived 2026-12-07 13:59:18 UTC (42s ago)"}, nil)
	if !strings.Contains(got, "archive    on (archive_timeout 1min), last WAL archived") {
		t.Errorf("capacity:\n%s", got)
	}
	if got := FormatCapacity(provision.CapacityReport{}, nil); strings.Contains(got, "archive") {
		t.Errorf("capacity without an archive:\n%s", got)
	}
}
