// Package provision is odoobot's domain: the instance, its name rules,
// port ranges, creation jobs made of steps, and the small interfaces the
// drivers (provision/postgres, provision/systemd, provision/nginx,
// provision/cloudflare, provision/acme, provision/odoo) implement.
// It never imports a driver or a chat library; cmd/odoobot wires them.
package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// SSLMode is how an instance is served: with a Cloudflare Origin
// certificate, a Let's Encrypt certificate, or plain HTTP (testing only).
type SSLMode string

// The SSL modes of SPEC.md.
const (
	SSLCloudflare  SSLMode = "cloudflare"
	SSLLetsEncrypt SSLMode = "letsencrypt"
	SSLHTTP        SSLMode = "http"
)

// SSLModes lists every mode, the default first.
var SSLModes = []SSLMode{SSLCloudflare, SSLLetsEncrypt, SSLHTTP}

// ErrUnknownSSLMode is returned by ParseSSLMode.
var ErrUnknownSSLMode = errors.New("unknown SSL mode")

// ParseSSLMode accepts "cloudflare", "letsencrypt" or "http"; "" gives def.
func ParseSSLMode(s string, def SSLMode) (SSLMode, error) {
	if s == "" {
		return def, nil
	}
	for _, m := range SSLModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w %q: use cloudflare, letsencrypt or http", ErrUnknownSSLMode, s)
}

// TLS reports whether the mode serves HTTPS.
func (m SSLMode) TLS() bool { return m == SSLCloudflare || m == SSLLetsEncrypt }

// State is where an instance is in its life.
type State string

// Instance states.
const (
	StateCreating State = "creating" // reserved, a creation job is running
	StateReady    State = "ready"    // created and verified
	StateFailed   State = "failed"   // a creation failed and is being rolled back
	StateDeleting State = "deleting" // a deletion job is running
)

// Ports are the two ports of an instance.
type Ports struct {
	HTTP   int // odoo.conf http_port, from the HTTP range
	Gevent int // odoo.conf gevent_port (websocket), from the gevent range
}

// PortRange is an inclusive range of TCP ports.
type PortRange struct {
	First, Last int
}

// Contains reports whether p is in the range.
func (r PortRange) Contains(p int) bool { return p >= r.First && p <= r.Last }

// Size is the number of ports in the range.
func (r PortRange) Size() int { return r.Last - r.First + 1 }

func (r PortRange) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// PortKind names the range a port comes from.
type PortKind string

// The two kinds of port.
const (
	PortHTTP   PortKind = "http"
	PortGevent PortKind = "gevent"
)

// ErrPortsExhausted is returned when a range has no free port left.
var ErrPortsExhausted = errors.New("no free port left in range")

// ErrInstanceNotFound is returned for a name that has no instance.
var ErrInstanceNotFound = errors.New("instance not found")

// Instance is one Odoo production instance. Name is the validated label;
// everything else derives from it and the Layout, except the ports, the
// mode and the bookkeeping.
type Instance struct {
	Name     string // acme
	Domain   string // acme.example.com
	Internal string // prod-acme: database, directory, nginx site
	Unit     string // odoo19e-prod-acme.service
	// User is the system user the instance runs as and DBRole the
	// PostgreSQL role that owns its database, both its own (SystemUser,
	// DBRoleName). Both are "" for an instance that shares the service
	// user and odoobot's role: one imported from API-DEV.
	User   string // odoo-acme
	DBRole string // prod-acme
	// StagingOf names the instance this one is a staging copy of (clone);
	// "" for any other.
	StagingOf string
	SSLMode   SSLMode // how it is served
	// Release is the release it runs, recorded when its creation ended;
	// the zero value for an imported instance.
	Release   ReleaseRecord
	Ports     Ports
	State     State
	CreatedAt time.Time
	CreatedBy string // who asked, as the chat or CLI names them
	// StoppedBy is who stopped the instance on purpose (Operator.Stop),
	// "" once it is started or restarted; StoppedAt is when.
	StoppedBy string
	StoppedAt time.Time
	// Maintenance is the maintenance window an operator opened on the
	// instance (Operator.SetMaintenance); the zero value when none was.
	Maintenance Maintenance
}

// Maintenance is a window during which an instance's alerts are
// silenced: until when, who opened it, and why.
type Maintenance struct {
	Until      time.Time
	By, Reason string
}

// Active reports whether the window is open at now.
func (m Maintenance) Active(now time.Time) bool { return now.Before(m.Until) }

// Layout holds where things live on the host; it is built from the
// configuration by cmd/odoobot. Every path is absolute.
type Layout struct {
	Zone           string // example.com
	UnitPrefix     string // odoo19e
	ProdRoot       string // instances: <ProdRoot>/prod-acme/
	LogDir         string // creation logs: <LogDir>/create-prod-acme.log
	NginxAvailable string // sites-available
	NginxEnabled   string // sites-enabled
	UnitDir        string // /etc/systemd/system
	CertDir        string // certificates: <CertDir>/prod-acme/{fullchain.pem,privkey.pem}
}

// InternalName is "prod-" + name.
func InternalName(name string) string { return "prod-" + name }

// IsInternalName reports whether s is an instance's internal name:
// "prod-" and a DNS label.
func IsInternalName(s string) bool {
	name, ok := strings.CutPrefix(s, "prod-")
	return ok && IsLabel(name)
}

// SystemUser is the system user of instance name: "odoo-" + name when
// that fits a user name (maxUserName, 31 characters), otherwise "odoo-",
// the name's first 17 characters, "-" and 8 hex digits of its SHA-256, 31
// characters, so that two long names never share a user.
func SystemUser(name string) string {
	u := "odoo-" + name
	if len(u) <= maxUserName {
		return u
	}
	sum := sha256.Sum256([]byte(name))
	return "odoo-" + name[:17] + "-" + hex.EncodeToString(sum[:4])
}

// DBRoleName is the PostgreSQL role that owns instance name's database:
// the database's own name, InternalName.
func DBRoleName(name string) string { return InternalName(name) }

// Names derives every name of instance name on this host (DeriveNames
// with the layout's zone and unit prefix).
func (l Layout) Names(name string) Names { return DeriveNames(name, l.Zone, l.UnitPrefix) }

// NewInstance makes an instance of a checked name, its names from
// Layout.Names.
func (l Layout) NewInstance(name string, mode SSLMode) Instance {
	n := l.Names(name)
	return Instance{
		Name:     name,
		Domain:   n.Domain,
		Internal: n.Internal,
		Unit:     n.Unit,
		User:     n.SystemUser,
		DBRole:   n.DBRole,
		SSLMode:  mode,
	}
}

// Paths are the files and directories of one instance.
type Paths struct {
	Dir  string // <ProdRoot>/prod-acme
	Conf string // odoo.conf (mode 0640, holds the master password)
	// UpgradeConf is the odoo.conf of an upgrade's test copy, beside the
	// live one (the instance's user must read it).
	UpgradeConf  string // .odoo-upgrade.conf
	Log          string // odoo.log
	CustomAddons string // custom_addons/
	DataDir      string // Odoo's data dir (filestore, sessions)
	Info         string // info-instancia.txt
	Unit         string // <UnitDir>/odoo19e-prod-acme.service
	SiteAvail    string // sites-available/prod-acme
	SiteEnabled  string // sites-enabled/prod-acme
	CreateLog    string // <LogDir>/create-prod-acme.log
	CertDir      string // <CertDir>/prod-acme
}

// Paths returns where an instance's files live.
func (l Layout) Paths(inst Instance) Paths {
	dir := filepath.Join(l.ProdRoot, inst.Internal)
	return Paths{
		Dir:          dir,
		Conf:         filepath.Join(dir, "odoo.conf"),
		UpgradeConf:  filepath.Join(dir, ".odoo-upgrade.conf"),
		Log:          filepath.Join(dir, "odoo.log"),
		CustomAddons: filepath.Join(dir, "custom_addons"),
		DataDir:      filepath.Join(dir, "data"),
		Info:         filepath.Join(dir, "info-instancia.txt"),
		Unit:         filepath.Join(l.UnitDir, inst.Unit),
		SiteAvail:    filepath.Join(l.NginxAvailable, inst.Internal),
		SiteEnabled:  filepath.Join(l.NginxEnabled, inst.Internal),
		CreateLog:    filepath.Join(l.LogDir, "create-"+inst.Internal+".log"),
		CertDir:      filepath.Join(l.CertDir, inst.Internal),
	}
}
