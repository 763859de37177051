package systemd

import (
	"fmt"
	"strings"
)

// maxUnitName is systemd's limit on a unit name (UNIT_NAME_MAX).
const maxUnitName = 255

// checkUnit accepts only service and timer unit names made of letters,
// digits and "@._-", starting with a letter or digit and ending in
// ".service" or ".timer": every name reaches D-Bus and journalctl's
// command line, so nothing else may.
func checkUnit(name string) error {
	base, ok := strings.CutSuffix(name, ".service")
	if !ok {
		base, ok = strings.CutSuffix(name, ".timer")
	}
	if !ok || base == "" {
		return fmt.Errorf("invalid unit name %q: must end in .service or .timer", name)
	}
	if len(name) > maxUnitName {
		return fmt.Errorf("invalid unit name %q: longer than %d characters", name, maxUnitName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return fmt.Errorf("invalid unit name %q: must start with a letter or digit", name)
		}
		if !alnum && c != '@' && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("invalid unit name %q: character %q not allowed (only A-Z a-z 0-9 @ . _ -)", name, c)
		}
	}
	return nil
}
