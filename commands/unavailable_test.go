package commands

import (
	"context"
	"strings"
	"testing"
)

// TestAVerbWithoutItsCapabilityIsNotAvailable: a dispatcher wired with
// none of its verb families answers each verb, privately, that it is not
// available on this server, and runs nothing.
func TestAVerbWithoutItsCapabilityIsNotAvailable(t *testing.T) {
	d, _, _ := newTestDispatcher(t)
	d.Creator = nil
	for _, text := range []string{
		"create acme http", "list", "status acme", "info acme", "logs acme", "certs",
		"restart acme", "stop acme", "start acme",
		"backup acme", "backups acme", "restore acme 20261127T030000Z", "delete acme",
		"clone acme beta", "upgrade acme", "capacity", "reset-admin acme",
	} {
		t.Run(text, func(t *testing.T) {
			r := &threadResponder{}
			task, err := d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: text}, r)
			if err != nil || task != nil {
				t.Errorf("task %v, err %v", task, err)
			}
			verb := strings.Fields(text)[0]
			if len(r.privates) != 1 || r.privates[0] != verb+" is not available on this server yet" {
				t.Errorf("privates %q, want one saying %s is not available", r.privates, verb)
			}
			if len(r.replies) != 0 || len(r.codes) != 0 || len(r.finishes) != 0 {
				t.Errorf("it answered more: replies %q codes %q finishes %q", r.replies, r.codes, r.finishes)
			}
		})
	}
	// Bad input is still said first: what was wrong, not that the verb
	// is missing.
	r := &threadResponder{}
	d.Handle(context.Background(), Request{Identity: Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}, Channel: "C1", Text: "create Acme http"}, r)
	if len(r.privates) != 1 || strings.Contains(r.privates[0], "not available") {
		t.Errorf("create of a bad name without a Creator: privates %q, want the name's refusal", r.privates)
	}
}
