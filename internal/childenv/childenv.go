// Package childenv is the environment of every program odoobot runs (git,
// Python, odoo-bin, pg_dump, nginx, journalctl): the system's PATH, a
// HOME that does not exist and a UTF-8 locale, plus what the caller adds.
// Never odoobot's own environment, which may hold its tokens and
// passwords (an env file's values are set into it): a build script or an
// Odoo module must not be able to read them.
package childenv

// Path is the PATH of every child: the system's directories, never
// odoobot's own PATH (where a user's interpreter may come first).
const Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Home is the HOME of every child: a directory that does not exist, so
// that no user configuration is read.
const Home = "/nonexistent"

// Env returns the minimal environment followed by extra ("KEY=value").
func Env(extra ...string) []string {
	return append([]string{"PATH=" + Path, "HOME=" + Home, "LANG=C.UTF-8"}, extra...)
}
