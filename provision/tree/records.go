package tree

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"odoobot/internal/atomicfile"
	"odoobot/internal/nofollow"
	"odoobot/provision"
)

// maxInfo bounds what is read of info-instancia.txt.
const maxInfo = 1 << 20

// WriteInfo replaces inst's info-instancia.txt with b, root's, 0644.
func (f *Files) WriteInfo(ctx context.Context, inst provision.Instance, b []byte) error {
	return f.writeFile(f.paths(inst).Info, b, 0o644, 0, 0)
}

// RemoveInfo removes inst's info-instancia.txt.
func (f *Files) RemoveInfo(ctx context.Context, inst provision.Instance) error {
	return f.removeFile(f.paths(inst).Info)
}

// ReadInfo reads inst's info-instancia.txt (nofollow.ReadFile).
func (f *Files) ReadInfo(ctx context.Context, inst provision.Instance) ([]byte, error) {
	b, err := nofollow.ReadFile(f.paths(inst).Info, maxInfo)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	return b, nil
}

// ExportTracking rewrites API-DEV's tracking files in dir from ready:
// prod-instances.txt (internal|domain|http|gevent|mode|created, one
// instance a line) and puertos_ocupados_odoo.txt (two lines an
// instance: "<port> <internal> http|gevent").
func (f *Files) ExportTracking(ctx context.Context, dir string, ready []provision.Instance) error {
	var inst, ports strings.Builder
	for _, i := range ready {
		fmt.Fprintf(&inst, "%s|%s|%d|%d|%s|%s\n", i.Internal, i.Domain, i.Ports.HTTP, i.Ports.Gevent, i.SSLMode, i.CreatedAt.UTC().Format(time.RFC3339))
		fmt.Fprintf(&ports, "%d %s http\n%d %s gevent\n", i.Ports.HTTP, i.Internal, i.Ports.Gevent, i.Internal)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "prod-instances.txt"), []byte(inst.String()), 0o644); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "puertos_ocupados_odoo.txt"), []byte(ports.String()), 0o644); err != nil {
		return fmt.Errorf("tracking: %w", err)
	}
	return nil
}

// TailLog returns the last n lines of inst's odoo.log (nofollow.Tail).
func (f *Files) TailLog(ctx context.Context, inst provision.Instance, n int) []string {
	return nofollow.Tail(f.paths(inst).Log, n)
}

// maxUnitFile bounds how much of a unit file is read.
const maxUnitFile = 1 << 20

// openUnit opens inst's unit file without following a link at it or
// blocking on a FIFO; anything but a regular file is refused.
func (f *Files) openUnit(inst provision.Instance) (*os.File, error) {
	path := f.paths(inst).Unit
	file, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("files: read unit %s: %w", path, err)
	}
	if st, err := file.Stat(); err != nil || !st.Mode().IsRegular() {
		file.Close()
		if err == nil {
			err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
		}
		return nil, fmt.Errorf("files: read unit %s: %w", path, err)
	}
	return file, nil
}

// ReadUnit reads inst's unit file, at most 1 MiB, a link refused.
func (f *Files) ReadUnit(ctx context.Context, inst provision.Instance) ([]byte, error) {
	file, err := f.openUnit(inst)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, maxUnitFile+1))
	if err != nil {
		return nil, fmt.Errorf("files: read unit %s: %w", file.Name(), err)
	}
	if len(b) > maxUnitFile {
		return nil, fmt.Errorf("files: unit %s is larger than %d bytes: not read", file.Name(), maxUnitFile)
	}
	return b, nil
}

// UnitUser returns the User= of inst's unit file ("" when it has none),
// the last one winning as in systemd. A unit larger than 1 MiB is
// refused rather than read in part: a User= past the part read would be
// missed.
func (f *Files) UnitUser(ctx context.Context, inst provision.Instance) (string, error) {
	b, err := f.ReadUnit(ctx, inst)
	if err != nil {
		return "", err
	}
	user := ""
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.TrimSpace(k) == "User" {
			user = strings.TrimSpace(v)
		}
	}
	return user, nil
}
