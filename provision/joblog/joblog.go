// Package joblog keeps each job's log as a file: the events of a job,
// one line each, appended to <LogDir>/<kind>-prod-NAME.log, the file a
// reader of the host finds beside the instance's own logs.
package joblog

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"odoobot/provision"
)

// Files opens job logs on the host's file system.
type Files struct{}

var _ provision.JobLogs = Files{}

// Append opens path for appending (made 0640, its directory 0750, when
// missing).
func (Files) Append(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("joblog: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("joblog: %w", err)
	}
	return f, nil
}
