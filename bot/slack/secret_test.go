package slack_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"odoobot/bot/bottest"
	"odoobot/bot/slack"
)

const adminPassword = "Pw-9f3K-only-for-ana"

// checkOnlyEphemeral fails unless secret went out exactly once, in a
// chat.postEphemeral to user in channel, and in nothing else the fake
// received, the audit or the log.
func checkOnlyEphemeral(t *testing.T, fs *fakeSlack, rb *running, audit *bottest.Audit, user, channel, secret string) {
	t.Helper()
	n := 0
	for _, c := range fs.Calls() {
		has := false
		for _, vs := range c.Form {
			for _, v := range vs {
				has = has || strings.Contains(v, secret)
			}
		}
		if !has {
			continue
		}
		if c.Method != "chat.postEphemeral" || c.Form.Get("user") != user || c.Form.Get("channel") != channel {
			t.Errorf("the secret went out in %s to %q in %q", c.Method, c.Form.Get("user"), c.Form.Get("channel"))
		}
		n++
	}
	if n != 1 {
		t.Errorf("the secret went out %d times, want once", n)
	}
	if strings.Count(fs.Everything(), secret) != 1 {
		t.Errorf("the fake received the secret %d times", strings.Count(fs.Everything(), secret))
	}
	responses := fmt.Sprint(fs.Responses())
	if strings.Contains(responses, secret) {
		t.Errorf("the secret went through a response_url")
	}
	if strings.Contains(audit.String(), secret) {
		t.Errorf("the secret is in the audit:\n%s", audit)
	}
	if strings.Contains(rb.logs.String(), secret) {
		t.Errorf("the secret is in the log:\n%s", rb.logs)
	}
}

// TestCreateShowsTheAdminPasswordEphemerally: the new instance's admin
// password reaches the requester alone, as an ephemeral message in the
// channel, and never a message, an edit, the audit or the log.
func TestCreateShowsTheAdminPasswordEphemerally(t *testing.T) {
	fs := newFakeSlack(t)
	creator := newCreator(t, "database", "service")
	creator.Password = adminPassword
	d := newDispatcher(t, creator, "name: acme")
	audit := &bottest.Audit{}
	d.Auditor = audit
	rb := startBot(t, fs, slack.Config{Handler: d})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-pw-1", 0, "U0123ABCD", "ana", "C0123", "create acme http"))
	waitFor(t, "the password", func() bool {
		for _, c := range fs.CallsOf("chat.postEphemeral") {
			if strings.Contains(c.Form.Get("text"), adminPassword) {
				return true
			}
		}
		return false
	})
	waitFor(t, "the summary", func() bool {
		for _, c := range fs.CallsOf("chat.postMessage") {
			if strings.Contains(c.Form.Get("text"), "name: acme") {
				return true
			}
		}
		return false
	})
	var msg string
	for _, c := range fs.CallsOf("chat.postEphemeral") {
		if strings.Contains(c.Form.Get("text"), adminPassword) {
			msg = c.Form.Get("text")
		}
	}
	for _, want := range []string{"login:    admin", "http://acme.example.com", "shown once", "reset-admin acme"} {
		if !strings.Contains(msg, want) {
			t.Errorf("password message %q lacks %q", msg, want)
		}
	}
	checkOnlyEphemeral(t, fs, rb, audit, "U0123ABCD", "C0123", adminPassword)
}

// TestCreatePasswordNotShownIsSaidInTheThread: when neither private
// path (chat.postEphemeral, the response_url) can carry a new instance's
// admin password, the password goes to no message that lasts (no post,
// no edit, no file) and the job's thread tells the requester it could
// not be shown and that reset-admin sets a new one.
func TestCreatePasswordNotShownIsSaidInTheThread(t *testing.T) {
	fs := newFakeSlack(t)
	fs.FailEphemeral("C0LOST", "channel_not_found")
	fs.FailResponses(404)
	creator := newCreator(t, "database", "service")
	creator.Password = adminPassword
	d := newDispatcher(t, creator, "name: acme")
	audit := &bottest.Audit{}
	d.Auditor = audit
	rb := startBot(t, fs, slack.Config{Handler: d})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-pw-lost", 0, "U0123ABCD", "ana", "C0LOST", "create acme http"))
	var notice apiCall
	waitFor(t, "the notice in the thread", func() bool {
		for _, c := range fs.CallsOf("chat.postMessage") {
			if strings.Contains(c.Form.Get("text"), "could not be shown") {
				notice = c
				return true
			}
		}
		return false
	})
	if notice.Form.Get("thread_ts") == "" || notice.Form.Get("channel") != "C0LOST" {
		t.Errorf("the notice went to %q, thread %q; want the job's thread in C0LOST", notice.Form.Get("channel"), notice.Form.Get("thread_ts"))
	}
	for _, want := range []string{"ana", "prod-acme", "reset-admin acme", "kept nowhere"} {
		if !strings.Contains(notice.Form.Get("text"), want) {
			t.Errorf("the notice %q lacks %q", notice.Form.Get("text"), want)
		}
	}
	for _, c := range fs.Calls() {
		if c.Method == "chat.postEphemeral" {
			continue // refused: the private attempt
		}
		for _, vs := range c.Form {
			for _, v := range vs {
				if strings.Contains(v, adminPassword) {
					t.Errorf("the password went out in %s", c.Method)
				}
			}
		}
	}
	if strings.Contains(audit.String(), adminPassword) || strings.Contains(rb.logs.String(), adminPassword) {
		t.Errorf("the password is in the audit or the log")
	}
}

// TestResetAdminNeedsAdminAndAConfirmation: an operator is refused; the
// admin is asked to confirm, and the click shows the new password to
// the admin alone.
func TestResetAdminNeedsAdminAndAConfirmation(t *testing.T) {
	fs := newFakeSlack(t)
	d := withLogs(t, 1)
	res := &bottest.Resetter{Password: adminPassword}
	d.Admins = res
	audit := &bottest.Audit{}
	d.Auditor = audit
	rb := startBot(t, fs, slack.Config{Handler: d})
	fs.WaitConnected(t, 5*time.Second)

	fs.Send(t, fs.Slash("env-ra-op", 0, "U0888OPER", "otto", "C0123", "reset-admin acme"))
	waitFor(t, "the operator's refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	if got := fs.CallsOf("chat.postEphemeral")[0]; got.Form.Get("user") != "U0888OPER" || !strings.Contains(got.Form.Get("text"), "need role admin") {
		t.Errorf("refusal %v", got.Form)
	}

	fs.Send(t, fs.Slash("env-ra-ad", 0, "U0123ABCD", "ana", "C0123", "reset-admin acme"))
	waitFor(t, "the confirmation", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 2 })
	ask := fs.CallsOf("chat.postEphemeral")[1]
	if res.Calls() != 0 || ask.Form.Get("user") != "U0123ABCD" {
		t.Fatalf("reset before the confirmation, or asked %q", ask.Form.Get("user"))
	}
	code := confirmButton(t, ask.Form.Get("blocks")).Value

	// Someone else's click does nothing.
	fs.Send(t, fs.click("env-ra-c0", "U0888OPER", "otto", code))
	waitFor(t, "the other's refusal", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 3 })
	if res.Calls() != 0 {
		t.Fatal("an operator's click reset the password")
	}
	fs.Send(t, fs.click("env-ra-c1", "U0123ABCD", "ana", code))
	waitFor(t, "the password", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 4 })
	if res.Calls() != 1 {
		t.Fatalf("%d resets", res.Calls())
	}
	if got := fs.CallsOf("chat.postEphemeral")[3].Form.Get("text"); !strings.Contains(got, adminPassword) || !strings.Contains(got, "http://acme.example.com") {
		t.Errorf("password message %q", got)
	}
	if n := len(fs.CallsOf("chat.postMessage")); n != 0 {
		t.Errorf("%d visible messages", n)
	}
	checkOnlyEphemeral(t, fs, rb, audit, "U0123ABCD", "C0123", adminPassword)
}

// TestLogsArePrivateUnlessShared: "logs NAME" answers the requester alone;
// "logs NAME N share" posts in the channel.
func TestLogsArePrivateUnlessShared(t *testing.T) {
	fs := newFakeSlack(t)
	startBot(t, fs, slack.Config{Handler: withLogs(t, 400)})
	fs.WaitConnected(t, 5*time.Second)
	fs.Send(t, fs.Slash("env-logs-p", 0, "U0123ABCD", "ana", "C0123", "logs acme 400"))
	waitFor(t, "the private answer", func() bool { return len(fs.CallsOf("chat.postEphemeral")) == 1 })
	got := fs.CallsOf("chat.postEphemeral")[0]
	text := got.Form.Get("text")
	if got.Form.Get("user") != "U0123ABCD" || !strings.Contains(text, "line 400 ") || !strings.Contains(text, "lines left out") || !strings.Contains(text, "share") {
		t.Errorf("private logs to %q: %q", got.Form.Get("user"), text)
	}
	if len(text) > 6000 {
		t.Errorf("private logs of %d bytes", len(text))
	}
	if n := len(fs.CallsOf("chat.postMessage")) + len(fs.CallsOf("files.completeUploadExternal")); n != 0 {
		t.Errorf("%d visible answers to a private logs", n)
	}
}
