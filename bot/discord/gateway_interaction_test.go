package discord

import (
	"strings"
	"testing"

	"odoobot/bot/bottest"
	"odoobot/provision"
)

// TestInteractionsArriveThroughTheGateway: end to end through the test
// double's gateway and REST server, as Discord delivers them: a command
// whose options hold a null is answered (the process goes on), a
// refusal is deferred and answered ephemerally, and a list is answered
// in the channel.
func TestInteractionsArriveThroughTheGateway(t *testing.T) {
	fd := newFakeDiscord(t)
	logs := &bottest.LogBuffer{}
	c := newCreator(t, "database")
	op := &provision.Operator{Store: fakeInstances{{Name: "acme", Domain: "acme.example.com", State: provision.StateReady}}}
	stop, _ := runGatewayBot(t, fd, logs, Config{Handler: newDispatcher(t, c, op, nil)})
	waitUntil(t, "READY", func() bool { return strings.Contains(logs.String(), "discord: connected") })
	vic := member{ID: "712345678901234567", Name: "vic", Roles: []string{viewerRole}}
	deliver := fd.gw.DeliverInteraction

	// A null option value and a null option, as a buggy client may send.
	nulls := map[string]any{"id": "423456789012345678", "name": "odoo", "type": 1, "options": []any{
		map[string]any{"name": "logs", "type": 1, "options": []any{nil, map[string]any{"name": "name", "type": 3, "value": nil}}},
	}}
	deliver(interactionJSON("623456789012345001", "itok-nulls", 2, vic, nulls, nil))
	deliver(interactionJSON("623456789012345002", "itok-create", 2, vic, map[string]any{"id": "423456789012345678", "name": "odoo", "type": 1,
		"options": []any{map[string]any{"name": "create", "type": 1, "options": []any{map[string]any{"name": "name", "type": 3, "value": "acme"}}}}}, nil))
	deliver(interactionJSON("623456789012345003", "itok-list", 2, vic, map[string]any{"id": "423456789012345678", "name": "odoo", "type": 1,
		"options": []any{map[string]any{"name": "list", "type": 1}}}, nil))

	original := func(token string) (apiCall, bool) {
		for _, c := range fd.snapshot() {
			if c.Method == "PATCH" && strings.HasSuffix(c.Path, "/"+token+"/messages/@original") {
				return c, true
			}
		}
		return apiCall{}, false
	}
	callback := func(token string) (apiCall, bool) {
		for _, c := range fd.snapshot() {
			if c.Method == "POST" && strings.Contains(c.Path, "/"+token+"/callback") {
				return c, true
			}
		}
		return apiCall{}, false
	}
	for _, tok := range []string{"itok-nulls", "itok-create", "itok-list"} {
		waitUntil(t, "the answer to "+tok, func() bool { _, ok := original(tok); return ok })
	}
	ephemeral := func(cb apiCall) bool {
		data, _ := cb.JSON["data"].(map[string]any)
		f, _ := data["flags"].(float64)
		return int(f)&64 != 0
	}
	if cb, _ := callback("itok-create"); !ephemeral(cb) {
		t.Errorf("the refused create was deferred publicly: %s", describe([]apiCall{cb}))
	}
	if a, _ := original("itok-create"); a.str("content") != "you (712345678901234567) need role admin to run create; you have viewer" {
		t.Errorf("refusal = %q", a.str("content"))
	}
	if cb, _ := callback("itok-list"); ephemeral(cb) {
		t.Error("list was deferred ephemerally")
	}
	if a, _ := original("itok-list"); !strings.Contains(a.str("content"), "acme.example.com") {
		t.Errorf("list = %q", a.str("content"))
	}
	if a, _ := original("itok-nulls"); a.str("content") == "" {
		t.Error("the interaction with nulls got an empty answer")
	}
	if len(c.Requests()) != 0 {
		t.Errorf("%d creations", len(c.Requests()))
	}
	stop()
}
