package tree

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"odoobot/provision"
)

var _ provision.APIDEVFiles = (*Files)(nil)

// maxScanned bounds each file import reads: tracking files, sites.
const maxScanned = 1 << 20

// InstanceDirs lists the prod-* directories under PROD_ROOT.
func (f *Files) InstanceDirs(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(f.l.ProdRoot)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("files: list %s: %w", f.l.ProdRoot, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), "prod-") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// DirTime is when inst's directory was last modified.
func (f *Files) DirTime(ctx context.Context, inst provision.Instance) (time.Time, error) {
	st, err := os.Stat(f.paths(inst).Dir)
	if err != nil {
		return time.Time{}, fmt.Errorf("files: %w", err)
	}
	return st.ModTime(), nil
}

// ReadTracking reads the tracking file name in dir; nil when missing.
func (f *Files) ReadTracking(ctx context.Context, dir, name string) ([]byte, error) {
	b, err := readBounded(filepath.Join(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return b, nil
}

// ReadSite reads inst's nginx site in sites-available.
func (f *Files) ReadSite(ctx context.Context, inst provision.Instance) ([]byte, error) {
	b, err := readBounded(f.paths(inst).SiteAvail)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return b, nil
}

// readBounded reads the regular file at path, root's configuration (a
// link is followed, as an operator may have made it), without blocking
// on a FIFO; larger than maxScanned is refused.
func readBounded(path string) ([]byte, error) {
	file, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(file, maxScanned+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxScanned {
		return nil, fmt.Errorf("%s is larger than %d bytes: not read", path, maxScanned)
	}
	return b, nil
}
