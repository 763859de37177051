package slack_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
)

// identities records the identity of every request it handles.
type identities struct {
	mu  sync.Mutex
	ids map[string]commands.Identity // by request text
}

func (h *identities) Handle(ctx context.Context, req commands.Request, r commands.Responder) (*provision.Task, error) {
	h.mu.Lock()
	h.ids[req.Text] = req.Identity
	h.mu.Unlock()
	return nil, r.Private(ctx, "ok")
}

func (h *identities) get(text string) (commands.Identity, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	id, ok := h.ids[text]
	return id, ok
}

func TestUserGroupsFillIdentityAndAreCached(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{
		{"id": "S0OPS", "handle": "ops", "users": []string{"U0123ABCD", "U0777ZED"}},
		{"id": "S0DEV", "handle": "dev", "users": []string{"U0123ABCD"}},
	})
	h := &identities{ids: map[string]commands.Identity{}}
	startBot(t, fs, slack.Config{Handler: h})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "whoami 1"))
	fs.Send(t, fs.Slash("env-2", 0, "U0777ZED", "zed", "C0123", "whoami 2"))
	fs.Send(t, fs.Slash("env-3", 0, "U0555NONE", "nobody", "C0123", "whoami 3"))
	fs.Send(t, fs.click("env-4", "U0777ZED", "zed", "c0ffee"))
	waitFor(t, "four requests", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 4 })

	want := map[string][]string{
		"whoami 1":       {"S0DEV", "S0OPS"},
		"whoami 2":       {"S0OPS"},
		"whoami 3":       nil,
		"confirm c0ffee": {"S0OPS"},
	}
	for text, groups := range want {
		id, ok := h.get(text)
		if !ok {
			t.Errorf("%q was not handled", text)
			continue
		}
		if diff := cmp.Diff(id.Groups, groups); diff != "" {
			t.Errorf("%q: groups (-got +want):\n%s", text, diff)
		}
	}
	if n := len(fs.CallsOf("usergroups.list")); n != 1 {
		t.Errorf("usergroups.list called %d times for 4 requests within the TTL, want 1", n)
	}
}

func TestUserGroupsRefreshAfterTTL(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS", "users": []string{"U0123ABCD"}}})
	h := &identities{ids: map[string]commands.Identity{}}
	startBot(t, fs, slack.Config{Handler: h, GroupsTTL: 100 * time.Millisecond})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "before"))
	waitFor(t, "the first request", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	fs.SetGroups(nil) // ana left the group
	time.Sleep(150 * time.Millisecond)
	fs.Send(t, fs.Slash("env-2", 0, "U0123ABCD", "ana", "C0123", "after"))
	waitFor(t, "the second request", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })

	before, _ := h.get("before")
	after, _ := h.get("after")
	if diff := cmp.Diff([][]string{before.Groups, after.Groups}, [][]string{{"S0OPS"}, nil}); diff != "" {
		t.Errorf("groups before and after leaving (-got +want):\n%s", diff)
	}
	if n := len(fs.CallsOf("usergroups.list")); n != 2 {
		t.Errorf("usergroups.list called %d times, want 2 (one per TTL)", n)
	}
}

func TestUserGroupsFailureKeepsUserGrants(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailGroups("missing_scope")
	// The real dispatcher: ana is an admin by user grant, zed would be
	// one by group only.
	rb := startBot(t, fs, slack.Config{Handler: newDispatcher(t, newCreator(t), "")})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 1 })
	if got := fs.CallsOf("chat.postMessage")[0].Form.Get("text"); !strings.Contains(got, "admin") {
		t.Errorf("whoami = %q, want the admin role from the user grant", got)
	}
	fs.Send(t, fs.Slash("env-2", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the second answer", func() bool { return len(fs.CallsOf("chat.postMessage")) == 2 })
	if !strings.Contains(rb.logs.String(), "missing_scope") {
		t.Error("the usergroups.list failure was not logged")
	}
	var failed int
	for _, c := range fs.Calls() {
		if c.Method == "usergroups.list" {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("usergroups.list tried %d times within the TTL, want 1", failed)
	}
}

func TestUserGroupsOff(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS", "users": []string{"U0123ABCD"}}})
	h := &identities{ids: map[string]commands.Identity{}}
	startBot(t, fs, slack.Config{Handler: h, GroupsTTL: -1})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-1", 0, "U0123ABCD", "ana", "C0123", "whoami"))
	waitFor(t, "the request", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	if id, _ := h.get("whoami"); id.Groups != nil {
		t.Errorf("groups %v with lookups off", id.Groups)
	}
	if n := len(fs.Calls()); n != 3 { // auth.test, apps.connections.open, chat.postEphemeral
		for _, c := range fs.Calls() {
			t.Log(c.Method)
		}
		t.Errorf("%d API calls, want no usergroups.list", n)
	}
}

// groupDispatcher is the real dispatcher with grants to a user group
// (S0OPS0001, operators everywhere) and to a user in one channel only.
func groupDispatcher(t *testing.T) *commands.Dispatcher {
	t.Helper()
	d := newDispatcher(t, newCreator(t), "")
	al, err := commands.ParseAllowlist(strings.NewReader("operator slack group S0OPS0001\nviewer slack user U0444CHAN C0789ABCD\n"), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	d.Allowlist = al
	return d
}

// TestFailedGroupLookupsExpireMembershipsAndSaySo: once the memberships
// are older than the TTL and usergroups.list fails, they are no longer
// used (fail closed), and the refusal says that the groups could not be
// looked up, not that the user is not on the allowlist; when the call
// works again, so do the group grants.
func TestFailedGroupLookupsExpireMembershipsAndSaySo(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS0001", "users": []string{"U0777ZED"}}})
	startBot(t, fs, slack.Config{Handler: groupDispatcher(t), GroupsTTL: 50 * time.Millisecond})
	fs.WaitConnected(t, 5*time.Second)
	whoami := func(env string) string {
		t.Helper()
		n := len(fs.CallsOf("chat.postMessage")) + len(fs.CallsOf("chat.postEphemeral"))
		fs.Send(t, fs.Slash(env, 0, "U0777ZED", "zed", "C0123", "whoami"))
		waitFor(t, "the answer to "+env, func() bool {
			return len(fs.CallsOf("chat.postMessage"))+len(fs.CallsOf("chat.postEphemeral")) > n
		})
		msgs := fs.CallsOf("chat.postMessage")
		return msgs[len(msgs)-1].Form.Get("text")
	}
	if got := whoami("env-1"); got != "You are zed (slack U0777ZED), role operator in this channel" {
		t.Fatalf("with the group known, whoami = %q", got)
	}
	fs.FailGroups("ratelimited_forever")
	time.Sleep(60 * time.Millisecond) // past the TTL
	got := whoami("env-2")
	if !strings.HasPrefix(got, "You are zed (slack U0777ZED), not on the allowlist in this channel; your user groups could not be looked up just now") {
		t.Errorf("with the lookup failing past the TTL, whoami = %q, want no role and the reason", got)
	}
	fs.FailGroups("")
	time.Sleep(60 * time.Millisecond) // past the retry wait
	if got := whoami("env-3"); got != "You are zed (slack U0777ZED), role operator in this channel" {
		t.Errorf("with the lookup working again, whoami = %q", got)
	}
}

// TestARefusalSaysWhereTheGrantsApply: a user granted in another
// channel is told so, not that they are not on the allowlist.
func TestARefusalSaysWhereTheGrantsApply(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: groupDispatcher(t)})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-1", 0, "U0444CHAN", "cho", "C0123", "list"))
	waitFor(t, "the refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	want := "you (U0444CHAN) have no role in this channel: your grants apply only in C0789ABCD; run the command there, or ask an admin for a grant here"
	if got := fs.CallsOf("chat.postEphemeral")[0].Form.Get("text"); got != want {
		t.Errorf("refusal = %q, want %q", got, want)
	}
}
