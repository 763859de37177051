// Package jobends keeps, in a directory, the ends of jobs the state
// store could not record (provision.JobEndKeeper): one file per job,
// job-ID.json, 0600, each written whole or not at all.
package jobends

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"odoobot/internal/atomicfile"
	"odoobot/provision"
)

var _ provision.JobEndKeeper = Dir("")

// Dir is the directory the ends are kept in (STATE_DIR/job-ends); it is
// made (0700) when the first end is kept. Only odoobot writes there.
type Dir string

// Where is the file job's end is kept in: <Dir>/job-ID.json.
func (d Dir) Where(job int64) string {
	return filepath.Join(string(d), "job-"+strconv.FormatInt(job, 10)+".json")
}

// Keep writes end to Where(end.Job) (0600), through a rename.
func (d Dir) Keep(end provision.JobEnd) error {
	b, err := json.Marshal(end)
	if err != nil {
		return fmt.Errorf("jobends: %w", err)
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("jobends: %w", err)
	}
	if err := atomicfile.Write(d.Where(end.Job), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("jobends: %w", err)
	}
	return nil
}

// Forget removes job's file; none is not an error.
func (d Dir) Forget(job int64) error {
	if err := os.Remove(d.Where(job)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("jobends: %w", err)
	}
	return nil
}

// Kept reads every job-*.json file of the directory. A file that cannot
// be read or parsed, or that holds no job's end (no job, a state that
// is not terminal, a job other than its name's) is reported in
// unreadable and left in place; a file gone meanwhile (another odoobot
// recorded it) is skipped. A directory that does not exist holds none.
func (d Dir) Kept() (ends []provision.JobEnd, unreadable []error, err error) {
	entries, err := os.ReadDir(string(d))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("jobends: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "job-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(string(d), name)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var o provision.JobEnd
		if err == nil {
			err = json.Unmarshal(b, &o)
		}
		if err == nil && (o.Job <= 0 || !o.State.Terminal() || path != d.Where(o.Job)) {
			err = fmt.Errorf("job %d, state %q: not a job end", o.Job, o.State)
		}
		if err != nil {
			unreadable = append(unreadable, fmt.Errorf("jobends: %s: %w", path, err))
			continue
		}
		ends = append(ends, o)
	}
	return ends, unreadable, nil
}
