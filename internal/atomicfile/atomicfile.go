// Package atomicfile replaces files so that no reader ever sees half of
// one: the content goes to a hidden temporary file beside the target,
// is synced to disk, and is renamed over the target (renameio).
package atomicfile

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces path with data atomically: a reader, or the next start
// after a crash, finds the old content or the new, whole. The new file
// has exactly mode, whatever the umask and whatever mode a file already
// at path had, and belongs to the calling process's user and group (a
// file's owner is not carried over: chown after writing when it
// matters). The temporary file is ".<name><digits>" in path's
// directory, so globs such as "*.conf" never match it, and it is created
// readable by its owner alone before it is given mode; it is removed
// when the write fails. path's directory must exist. Errors name path.
func Write(path string, data []byte, mode fs.FileMode) error {
	f, err := renameio.NewPendingFile(path,
		renameio.WithTempDir(filepath.Dir(path)),
		renameio.WithStaticPermissions(mode))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer f.Cleanup()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
