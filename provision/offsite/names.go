package offsite

import (
	"fmt"
	"strings"
	"unicode"
)

// checkName refuses a file name a copy cannot hold: a copy holds a
// backup's files at its top level, so a name is one plain component
// (no "/", not "." or ".."), not hidden, not an option ("-…"), with no
// space or control character. It goes on restic's command line.
func checkName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return refused(fmt.Sprintf("%q is not a backup file's name", name), "a backup file is named by one plain name, such as database.dump")
	case strings.ContainsRune(name, '/'):
		return refused(fmt.Sprintf("%q is not a backup file's name: it has a /", name), "a backup file is named by one plain name, such as database.dump")
	case strings.HasPrefix(name, "."), strings.HasPrefix(name, "-"):
		return refused(fmt.Sprintf("%q is not a backup file's name: it starts with %q", name, name[:1]), "a backup file is named by one plain name, such as database.dump")
	case strings.IndexFunc(name, notPlain) >= 0:
		return refused(fmt.Sprintf("%q is not a backup file's name: it has a space or a control character", name), "a backup file is named by one plain name, such as database.dump")
	}
	return nil
}

// checkSnapshot refuses what is not a restic snapshot id: 8 to 64
// lowercase hexadecimal digits (a short or a full id). It goes on
// restic's command line.
func checkSnapshot(id string) error {
	if len(id) < 8 || len(id) > 64 || strings.IndexFunc(id, notHex) >= 0 {
		return refused(fmt.Sprintf("%q is not an offsite copy's id", id), "give the id of a copy as `backups` lists it (hexadecimal)")
	}
	return nil
}

// checkTag refuses a value odoobot cannot keep in a restic tag
// (key=value): empty, or with a comma (restic splits a tag there), a
// space or a control character.
func checkTag(key, value string) error {
	if value == "" || strings.ContainsRune(value, ',') || strings.IndexFunc(value, notPlain) >= 0 {
		return refused(fmt.Sprintf("the backup's %s %q cannot be an offsite copy's tag", key, value), "a backup's instance, id and reason are plain words without commas or spaces")
	}
	return nil
}

func notPlain(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
}

func notHex(r rune) bool { return (r < '0' || r > '9') && (r < 'a' || r > 'f') }
