package sysusers

import (
	"os"
	"testing"
)

// TestRoot: root is uid 0, gid 0, home /root on every Debian host; a
// name that no host has is an error naming it.
func TestRoot(t *testing.T) {
	h := Host{}
	if uid, gid, err := h.LookupUser("root"); err != nil || uid != 0 || gid != 0 {
		t.Errorf("LookupUser(root) = %d, %d, %v", uid, gid, err)
	}
	if n, ok := h.UserName(0); !ok || n != "root" {
		t.Errorf("UserName(0) = %q, %v", n, ok)
	}
	if home, err := h.Home("root"); err != nil || home != "/root" {
		t.Errorf("Home(root) = %q, %v", home, err)
	}
	if _, _, err := h.LookupUser("odoobot-no-such-user"); err == nil {
		t.Error("LookupUser of a missing user: no error")
	}
	if _, err := h.Home("odoobot-no-such-user"); err == nil {
		t.Error("Home of a missing user: no error")
	}
	if _, ok := h.UserName(os.Getuid()); !ok && os.Getuid() == 0 {
		t.Error("UserName of this process's uid: none")
	}
}
