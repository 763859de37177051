package jobends

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// TestKeepKeptForget: an end kept is a 0600 file in a 0700 directory
// made for it, read back as it was, and gone once forgotten; forgetting
// twice, or reading a directory not made yet, is no error.
func TestKeepKeptForget(t *testing.T) {
	d := Dir(filepath.Join(t.TempDir(), "job-ends"))
	if ends, bad, err := d.Kept(); err != nil || len(ends) != 0 || len(bad) != 0 {
		t.Fatalf("Kept of a missing directory = %v, %v, %v; want nothing", ends, bad, err)
	}
	end := provision.JobEnd{Job: 31, State: provision.JobRolledBack, Error: "step b failed: boom", Undone: []string{"b", "a"}}
	if err := d.Keep(end); err != nil {
		t.Fatal(err)
	}
	if d.Where(31) != filepath.Join(string(d), "job-31.json") {
		t.Errorf("Where(31) = %s", d.Where(31))
	}
	fi, err := os.Stat(d.Where(31))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kept end: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if di, err := os.Stat(string(d)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("directory: %v, mode %v; want 0700", err, di.Mode().Perm())
	}
	ends, bad, err := d.Kept()
	if err != nil || len(bad) != 0 {
		t.Fatalf("Kept: %v, %v", bad, err)
	}
	if diff := cmp.Diff(ends, []provision.JobEnd{end}); diff != "" {
		t.Errorf("Kept (-got +want):\n%s", diff)
	}
	for range 2 {
		if err := d.Forget(31); err != nil {
			t.Errorf("Forget: %v", err)
		}
	}
	if left, _ := os.ReadDir(string(d)); len(left) != 0 {
		t.Errorf("left after Forget: %v", left)
	}
}

// TestKeptLeavesWhatIsNotAJobEnd: a running job, a file naming another
// job than its own, and text that is not JSON are reported, each naming
// its file, and left in place for a person to read; other files are not
// looked at.
func TestKeptLeavesWhatIsNotAJobEnd(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"job-41.json": `{"job":41,"state":"succeeded"}`,
		"job-42.json": `{"job":42,"state":"running"}`,
		"job-43.json": `{"job":44,"state":"failed"}`,
		"job-45.json": `not json`,
		"notes.txt":   `not a job`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ends, bad, err := Dir(dir).Kept()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ends, []provision.JobEnd{{Job: 41, State: provision.JobSucceeded}}); diff != "" {
		t.Errorf("Kept (-got +want):\n%s", diff)
	}
	var named []string
	for _, e := range bad {
		for _, n := range []string{"job-42.json", "job-43.json", "job-45.json"} {
			if strings.Contains(e.Error(), n) {
				named = append(named, n)
			}
		}
	}
	slices.Sort(named)
	if diff := cmp.Diff(named, []string{"job-42.json", "job-43.json", "job-45.json"}); diff != "" {
		t.Errorf("unreadable %v (-got +want):\n%s", bad, diff)
	}
	if left, _ := os.ReadDir(dir); len(left) != 5 {
		t.Errorf("files left: %v, want all five", left)
	}
}

// TestKeepRefusesWhereItCannotWrite: a directory that cannot be made is
// an error, and nothing is half-written.
func TestKeepRefusesWhereItCannotWrite(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := Dir(filepath.Join(file, "job-ends")).Keep(provision.JobEnd{Job: 1, State: provision.JobSucceeded})
	if err == nil || !errors.Is(err, os.ErrExist) && !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Keep under a file = %v, want a failure", err)
	}
}
