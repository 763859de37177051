package templates

import (
	"strings"
)

// DefaultTimeoutStopSec is Unit.TimeoutStopSec when zero: time for Odoo's
// workers to finish their requests after SIGTERM.
const DefaultTimeoutStopSec = 60

// Unit is the systemd service of one instance, e.g.
// odoo19e-prod-acme.service. It runs the shared release's Odoo with the
// instance's odoo.conf as an unprivileged user, restarts it on failure,
// and sandboxes it: the whole file system is read-only (ProtectSystem=strict,
// ProtectHome=read-only) except the instance directory (ReadWritePaths),
// so one instance cannot write another's files or the shared release; it
// binds no IP port but its own two; it holds no capability, reaches no device, kernel setting or other user's
// process, opens only local and IP sockets and makes only a service's
// system calls. `systemd-analyze security` rates it within
// unitsecurity.MaxExposure.
//
// Paths must be absolute and free of whitespace, quotes, '$' and '%'
// (systemd would split or expand them); Render refuses them otherwise.
type Unit struct {
	Service string // the unit's name, "odoo19e-prod-acme.service"; SyslogIdentifier is it without ".service"
	Name    string // the internal name, "prod-acme"
	Domain  string // the instance's domain, shown in Description

	User  string // the service user; required
	Group string // the service group; "" means User

	Venv    string // the release's virtual environment: ExecStart runs <Venv>/bin/python3
	Release string // the release's Odoo source tree: ExecStart runs <Release>/odoo-bin
	Conf    string // the instance's odoo.conf, passed with -c
	Dir     string // the instance directory: WorkingDirectory and the only ReadWritePaths

	// HTTPPort and GeventPort are the instance's two ports (odoo.conf's
	// http_port and gevent_port): the only ones its processes may bind
	// (SocketBindAllow), every other bind on an IP port being refused
	// (SocketBindDeny=any), so that it cannot take a neighbour's port
	// while the neighbour is stopped. Both required and distinct.
	HTTPPort, GeventPort int

	TimeoutStopSec int // 0 means DefaultTimeoutStopSec

	// MemoryMax is the cgroup memory limit in bytes, rendered in MiB
	// rounded up. Set it to OdooConf.MemoryMax() of the instance's
	// odoo.conf; 0 means OdooConf{}.MemoryMax(), the limit for the
	// default workers and limits.
	MemoryMax int64
}

// unitView is what unit.service.tmpl sees.
type unitView struct {
	Unit
	SyslogIdentifier string
	MemoryMaxMiB     int64
}

// Unit renders the systemd unit file. It fails, wrapping ErrInvalid, on a
// missing field, a service name that does not end in ".service", a path
// that is not absolute or holds an unsafe character, a user or group that
// is not a plain name, or a negative number.
func (s *Set) Unit(u Unit) ([]byte, error) {
	f := &fieldErrors{what: "unit"}
	if u.Group == "" {
		u.Group = u.User
	}
	if u.TimeoutStopSec == 0 {
		u.TimeoutStopSec = DefaultTimeoutStopSec
	}
	if u.MemoryMax == 0 {
		u.MemoryMax = OdooConf{}.MemoryMax()
	}
	ident, ok := strings.CutSuffix(u.Service, ".service")
	if !ok || !isUnitName(ident) {
		f.add("Service", "%q is not a unit name ending in .service", u.Service)
	}
	f.name("Name", u.Name)
	f.domain("Domain", u.Domain)
	if !isUserName(u.User) {
		f.add("User", "%q is not a user name", u.User)
	}
	if !isUserName(u.Group) {
		f.add("Group", "%q is not a group name", u.Group)
	}
	f.path("Venv", u.Venv)
	f.path("Release", u.Release)
	f.path("Conf", u.Conf)
	f.path("Dir", u.Dir)
	if f.port("HTTPPort", u.HTTPPort) && f.port("GeventPort", u.GeventPort) && u.HTTPPort == u.GeventPort {
		f.add("GeventPort", "%d is also the HTTP port", u.GeventPort)
	}
	f.nonNegative("TimeoutStopSec", int64(u.TimeoutStopSec))
	f.nonNegative("MemoryMax", u.MemoryMax)
	if err := f.err(); err != nil {
		return nil, err
	}
	const mib = 1 << 20
	return s.render("unit", tmplUnit, unitView{
		Unit:             u,
		SyslogIdentifier: ident,
		MemoryMaxMiB:     (u.MemoryMax + mib - 1) / mib,
	})
}

// isUnitName reports whether s (without its suffix) is a plain unit name:
// letters, digits, '-', '_', '.', no template '@'.
func isUnitName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isUserName reports whether s is a portable user or group name, as
// systemd accepts in User= and Group=.
func isUserName(s string) bool {
	if s == "" || len(s) > 31 || s[0] == '-' || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
