package slack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"odoobot/bot/slack"
	"odoobot/commands"
)

// groupsDispatcher is the real dispatcher with a user grant (ana,
// admin) and a group grant (S0OPS0001, operator).
func groupsDispatcher(t *testing.T) *commands.Dispatcher {
	t.Helper()
	d := newDispatcher(t, newCreator(t), "")
	al, err := commands.ParseAllowlist(strings.NewReader("admin slack user U0123ABCD\noperator slack group S0OPS0001\n"), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	d.Allowlist = al
	return d
}

// answerWithin sends whoami as user and returns the answer posted, failing
// the test when it takes longer than within.
func answerWithin(t *testing.T, fs *fakeSlack, env, user, name string, within time.Duration) string {
	t.Helper()
	n := len(fs.CallsOf("chat.postMessage"))
	start := time.Now()
	fs.Send(t, fs.Slash(env, 0, user, name, "C0123", "whoami"))
	for len(fs.CallsOf("chat.postMessage")) == n {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no answer to %s within 10s", env)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := time.Since(start); d > within {
		t.Errorf("%s (%s) answered after %s, want within %s", env, name, d.Round(time.Millisecond), within)
	}
	msgs := fs.CallsOf("chat.postMessage")
	return msgs[len(msgs)-1].Form.Get("text")
}

// TestASlowGroupLookupHoldsNoUserWithADirectGrant: usergroups.list
// answering after 3 s holds neither a user whose own grant settles their
// role (not even while a lookup is under way), nor, once memberships are
// cached, a group member.
func TestASlowGroupLookupHoldsNoUserWithADirectGrant(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS0001", "users": []string{"U0777ZED"}}})
	fs.Delay("usergroups.list", 3*time.Second)
	d := groupsDispatcher(t)
	startBot(t, fs, slack.Config{Handler: d, GroupsMatter: d.GroupsMatter})
	fs.WaitConnected(t, 5*time.Second)

	if got := answerWithin(t, fs, "env-1", "U0123ABCD", "ana", time.Second); got != "You are ana (slack U0123ABCD), role admin in this channel" {
		t.Errorf("ana: whoami = %q", got)
	}
	// zed's role needs the groups: he waits for the lookup, once.
	if got := answerWithin(t, fs, "env-2", "U0777ZED", "zed", 5*time.Second); got != "You are zed (slack U0777ZED), role operator in this channel" {
		t.Errorf("zed: whoami = %q", got)
	}
	if got := answerWithin(t, fs, "env-3", "U0777ZED", "zed", time.Second); got != "You are zed (slack U0777ZED), role operator in this channel" {
		t.Errorf("zed again: whoami = %q", got)
	}
	if got := answerWithin(t, fs, "env-4", "U0123ABCD", "ana", time.Second); got != "You are ana (slack U0123ABCD), role admin in this channel" {
		t.Errorf("ana again: whoami = %q", got)
	}
}

// TestGroupsAreRefreshedBeforeTheyExpire: memberships older than half
// their TTL are still used while a lookup refreshes them in the
// background, so that a member does not wait for a slow usergroups.list;
// the refreshed memberships are used once it answers.
func TestGroupsAreRefreshedBeforeTheyExpire(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS0001", "users": []string{"U0777ZED"}}})
	d := groupsDispatcher(t)
	startBot(t, fs, slack.Config{Handler: d, GroupsMatter: d.GroupsMatter, GroupsTTL: 4 * time.Second})
	fs.WaitConnected(t, 5*time.Second)
	const member = "You are zed (slack U0777ZED), role operator in this channel"
	if got := answerWithin(t, fs, "env-1", "U0777ZED", "zed", time.Second); got != member {
		t.Fatalf("whoami = %q", got)
	}
	time.Sleep(2200 * time.Millisecond) // past half the TTL
	fs.Delay("usergroups.list", 1500*time.Millisecond)
	fs.SetGroups(nil) // zed left the group
	if got := answerWithin(t, fs, "env-2", "U0777ZED", "zed", 500*time.Millisecond); got != member {
		t.Errorf("while the refresh runs, whoami = %q, want the cached membership", got)
	}
	time.Sleep(1700 * time.Millisecond) // the refresh has answered
	if got := answerWithin(t, fs, "env-3", "U0777ZED", "zed", 500*time.Millisecond); !strings.Contains(got, "not on the allowlist") {
		t.Errorf("after the refresh, whoami = %q, want zed no longer an operator", got)
	}
}

// TestAFailingBackgroundRefreshIsNotRepeatedAtEachCommand: while the
// cached memberships last, a refresh that failed is tried again only
// after the retry wait, however many commands come.
func TestAFailingBackgroundRefreshIsNotRepeatedAtEachCommand(t *testing.T) {
	fs := newFakeSlack(t)
	fs.SetGroups([]map[string]any{{"id": "S0OPS0001", "users": []string{"U0777ZED"}}})
	d := groupsDispatcher(t)
	startBot(t, fs, slack.Config{Handler: d, GroupsMatter: d.GroupsMatter, GroupsTTL: 2 * time.Second})
	fs.WaitConnected(t, 5*time.Second)
	answerWithin(t, fs, "env-0", "U0777ZED", "zed", time.Second)
	time.Sleep(1100 * time.Millisecond) // past half the TTL
	fs.FailGroups("internal_error")
	for i := range 5 {
		answerWithin(t, fs, fmt.Sprintf("env-%d", i+1), "U0777ZED", "zed", time.Second)
	}
	var calls int
	for _, c := range fs.Calls() {
		if c.Method == "usergroups.list" {
			calls++
		}
	}
	if calls != 2 {
		t.Errorf("usergroups.list called %d times, want 2 (the first lookup, one failed refresh)", calls)
	}
}
