package provision

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// ErrStoredName is matched (errors.Is) by a *StoredNameError.
var ErrStoredName = errors.New("a stored name differs from the one odoobot derives")

// StoredNameError is the refusal of an instance whose row in the state
// database records a name other than the one odoobot derives from the
// instance's name (DeriveNames). Whoever can write that row (anyone
// holding odoobot's database role) must not choose what root removes,
// stops or gives away, so the job stops before it changes anything. Its
// message is safe to show in chat: it names the field, both values and
// what to do.
type StoredNameError struct {
	Instance string // the instance's name
	Field    string // the state database's column: name, domain, internal, unit, system_user, db_role, staging_of, http_port, gevent_port
	Stored   string // what the row holds
	Expected string // what odoobot derives (or accepts) for it
}

func (e *StoredNameError) Error() string {
	return fmt.Sprintf("provision: instance %s: the state database's %s is %s, expected %s (derived from the name); "+
		"odoobot acts only on names it derives, so nothing was changed: find out who wrote odoobot.instances, then correct the row",
		e.Instance, e.Field, quoteStored(e.Stored), e.Expected)
}

// Is matches ErrStoredName.
func (e *StoredNameError) Is(target error) bool { return target == ErrStoredName }

// quoteStored quotes a stored value for a message, cut to 80 bytes,
// every character but ASCII letters, digits and ". _ - / :" shown as
// '?': it was written by someone odoobot does not trust, and the message
// goes to chat, where <!channel> or markup would do what its writer
// chose.
func quoteStored(s string) string {
	const limit = 80
	more := ""
	if len(s) > limit {
		s, more = s[:limit], fmt.Sprintf("… (%d bytes)", len(s))
	}
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("._-/:", r):
			return r
		}
		return '?'
	}, s)
	return `"` + safe + `"` + more
}

// CheckStored checks every name inst carries from the state database
// against the names the layout derives from inst.Name (Layout.Names):
// the name is a DNS label; domain, internal, unit are the derived ones;
// system_user and db_role are the derived ones, or both empty — the one
// alternative, an instance imported from API-DEV that shares the service
// user and odoobot's role (Service.trusted also asks the host whether it
// does); staging_of is empty or a label. The first that differs is
// returned as a *StoredNameError; nil when all match. It reads nothing.
func (l Layout) CheckStored(inst Instance) error {
	if !IsLabel(inst.Name) || len(inst.Name) > MaxNameLength {
		return &StoredNameError{Instance: quoteStored(inst.Name), Field: "name", Stored: inst.Name, Expected: "a name that passes the name rules"}
	}
	n := l.Names(inst.Name)
	for _, f := range []struct{ field, stored, want string }{
		{"domain", inst.Domain, n.Domain},
		{"internal", inst.Internal, n.Internal},
		{"unit", inst.Unit, n.Unit},
	} {
		if f.stored != f.want {
			return &StoredNameError{Instance: inst.Name, Field: f.field, Stored: f.stored, Expected: fmt.Sprintf("%q", f.want)}
		}
	}
	shared := inst.User == "" && inst.DBRole == ""
	if !shared {
		if inst.User != n.SystemUser {
			return &StoredNameError{Instance: inst.Name, Field: "system_user", Stored: inst.User,
				Expected: fmt.Sprintf("%q (or, with db_role empty too, \"\": an imported instance on the service user)", n.SystemUser)}
		}
		if inst.DBRole != n.DBRole {
			return &StoredNameError{Instance: inst.Name, Field: "db_role", Stored: inst.DBRole,
				Expected: fmt.Sprintf("%q (or, with system_user empty too, \"\": an imported instance on odoobot's role)", n.DBRole)}
		}
	}
	if inst.StagingOf != "" && (!IsLabel(inst.StagingOf) || inst.StagingOf == inst.Name) {
		return &StoredNameError{Instance: inst.Name, Field: "staging_of", Stored: inst.StagingOf, Expected: "\"\" or another instance's name"}
	}
	return nil
}

// BindFilter says whether systemd enforces an instance unit's
// SocketBindAllow and SocketBindDeny on this host (provision/systemd).
type BindFilter interface {
	// BindFilterEnforced returns nil when it does (the host runs cgroup v2
	// alone, the only hierarchy systemd attaches its bind filter to);
	// otherwise an error saying what the host runs, fit for a log line.
	BindFilterEnforced() error
}

// trustFor says which verb a trusted check is for: what a job that
// stopped half-way may have left on the host differs.
type trustFor int

const (
	trustJob     trustFor = iota // any job: the shared form needs the unit on the service user
	trustIsolate                 // isolate: also a unit already on the instance's own user (an interrupted isolate)
	trustDelete                  // delete: also no unit at all (an interrupted delete removed it)
)

// trusted checks an instance read back from the store before a job acts
// on it: Layout.CheckStored, its ports against its odoo.conf
// (portsMatchConf), and, for one whose row says it shares the service
// user and odoobot's role, that its unit on the host (root's file, at
// the path derived from its name) runs as ServiceUser — or what an
// interrupted job of the verb leaves. A row that claims to be
// shared when the host says otherwise is refused naming system_user.
func (s *Service) trusted(inst Instance, verb trustFor) error {
	// Local reads, bounded: no caller's deadline is needed.
	ctx := context.Background()
	if err := s.cfg.Layout.CheckStored(inst); err != nil {
		return err
	}
	if inst.User != "" {
		return s.portsMatchConf(ctx, inst)
	}
	own := s.cfg.Layout.Names(inst.Name).SystemUser
	got, err := s.cfg.Files.UnitUser(ctx, inst)
	if errors.Is(err, fs.ErrNotExist) && verb == trustDelete {
		// Only odoobot removes a unit: a delete that stopped after its
		// service step. What is left of a shared instance is derived.
		return nil
	}
	if err != nil {
		return fmt.Errorf("provision: instance %s records no user of its own, and its unit does not say it runs as the service user %s: %w", inst.Name, s.cfg.ServiceUser, err)
	}
	if got == s.cfg.ServiceUser || (verb == trustIsolate && got == own) {
		return nil
	}
	return &StoredNameError{Instance: inst.Name, Field: "system_user", Stored: "",
		Expected: fmt.Sprintf("%q: its unit runs as %q, and only an instance whose unit runs as the service user %s may record none", own, got, s.cfg.ServiceUser)}
}

// portsMatchConf checks the ports inst's row records against those of
// its odoo.conf, root's file at the derived path in an instance with a
// user of its own (the unit's SocketBindAllow and every health check
// take the ports from the row). A missing odoo.conf (a delete run again
// after the files went) checks nothing.
func (s *Service) portsMatchConf(ctx context.Context, inst Instance) error {
	read, err := s.cfg.Files.ReadConf(ctx, inst, ConfLive)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("provision: instance %s: read its odoo.conf to check its ports: %w", inst.Name, err)
	}
	conf := read.Options
	for _, p := range []struct {
		field  string
		stored int
	}{{"http_port", inst.Ports.HTTP}, {"gevent_port", inst.Ports.Gevent}} {
		if want := conf[p.field]; want != strconv.Itoa(p.stored) {
			return &StoredNameError{Instance: inst.Name, Field: p.field, Stored: strconv.Itoa(p.stored),
				Expected: fmt.Sprintf("%q, its odoo.conf's", want)}
		}
	}
	return nil
}
