package provision

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// LogrotateFile is where odoobot installs the rotation of the instances'
// odoo.log: one file for all of them.
const LogrotateFile = "/etc/logrotate.d/odoobot-instances"

// LogrotateConfig is the logrotate configuration of every instance's
// odoo.log under prodRoot (PROD_ROOT/*/odoo.log): rotated daily, or as
// soon as it passes 200 MiB when logrotate runs, 14 kept, compressed.
// copytruncate, since Odoo keeps its log file open; su root root, since
// the instance directories are root's, shared with the instance's group.
func LogrotateConfig(prodRoot string) ([]byte, error) {
	root := filepath.Clean(prodRoot)
	if !filepath.IsAbs(root) || strings.ContainsAny(root, "\"\n\\*?[{") {
		return nil, fmt.Errorf("logrotate: PROD_ROOT %q must be an absolute path without quotes, backslashes, newlines or glob characters", prodRoot)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `# Installed by odoobot at start; rewritten when PROD_ROOT changes.
# The odoo.log of every instance under %[1]s.
"%[1]s/*/odoo.log" {
	daily
	maxsize 200M
	rotate 14
	missingok
	notifempty
	compress
	delaycompress
	copytruncate
	su root root
}
`, root)
	return b.Bytes(), nil
}

// InstallLogrotate writes LogrotateConfig(prodRoot) to path (mode 0644,
// through a rename: logrotate never reads half a file), unless it
// already holds exactly that. It reports whether it wrote.
func InstallLogrotate(path, prodRoot string) (bool, error) {
	want, err := LogrotateConfig(prodRoot)
	if err != nil {
		return false, err
	}
	if have, err := os.ReadFile(path); err == nil && bytes.Equal(have, want) {
		return false, nil
	}
	if err := writeFileAtomic(path, want, 0o644); err != nil {
		return false, fmt.Errorf("logrotate: install %s: %w", path, err)
	}
	return true, nil
}
