// Package sysusers is the host's user database (provision.Users), read
// with os/user: /etc/passwd, or NSS when built with cgo. It is apart
// from provision/tenant, which makes and removes users, so that reading
// them needs neither PostgreSQL nor useradd.
package sysusers

import (
	"fmt"
	"os/user"
	"strconv"

	"odoobot/provision"
)

var _ provision.Users = Host{}

// Host is this host's user database. The zero value is ready to use.
type Host struct{}

// LookupUser returns the uid and primary gid of system user name, or an
// error when there is none.
func (Host) LookupUser(name string) (uid, gid int, err error) {
	u, err := user.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("sysusers: system user %s does not exist", name)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid, nil
}

// UserName returns the name of uid; false when it has none.
func (Host) UserName(uid int) (string, bool) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", false
	}
	return u.Username, true
}

// Home returns the home directory of system user name, or an error when
// there is none.
func (Host) Home(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", fmt.Errorf("sysusers: system user %s does not exist", name)
	}
	return u.HomeDir, nil
}
