package e2e

import (
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAuditExportThroughSlack: an admin's `/odoo audit 1d` through the
// real binary and the Slack double opens a direct message with the
// admin (conversations.open) and uploads there a CSV of the audit log
// holding the commands typed before it, while the channel gets nothing
// but a private note.
func TestAuditExportThroughSlack(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	f := newSlackFake(t)
	bot := startServe(t, slackServeEnv(env, f, writeSlackAllowlist(t, env)))
	f.waitConnected(t, bot)

	f.waitAck(t, f.slash(t, slackAdmin, "ana", "whoami"))
	waitSlack(t, f, bot, 20*time.Second, "the answer to whoami", func() bool { return len(f.CallsOf("chat.postMessage")) > 0 })
	mark := f.callCount()
	f.waitAck(t, f.slash(t, slackAdmin, "ana", "audit 1d"))
	waitSlack(t, f, bot, 30*time.Second, "the export's upload", func() bool { return len(f.since(mark, "files.completeUploadExternal")) > 0 })
	opens := f.since(mark, "conversations.open")
	if len(opens) != 1 || opens[0].Form.Get("users") != slackAdmin {
		t.Fatalf("conversations.open calls %v, want one for %s", opens, slackAdmin)
	}
	done := f.since(mark, "files.completeUploadExternal")[0]
	if ch := done.Form.Get("channel_id"); ch != "D"+slackAdmin {
		t.Errorf("the export went to %q, want the direct message D%s", ch, slackAdmin)
	}
	var files []struct {
		ID, Title string
	}
	if err := json.Unmarshal([]byte(done.Form.Get("files")), &files); err != nil || len(files) != 1 || !strings.HasSuffix(files[0].Title, ".csv") {
		t.Fatalf("the uploaded files %q: %v", done.Form.Get("files"), err)
	}
	rows, err := csv.NewReader(strings.NewReader(f.File(files[0].ID))).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, f.File(files[0].ID))
	}
	found := false
	for _, r := range rows[1:] {
		if r[2] == slackAdmin && r[5] == "whoami" && r[6] == "allowed" {
			found = true
		}
	}
	if rows[0][0] != "at" || !found {
		t.Errorf("the export lacks the admin's whoami:\n%q", rows)
	}
	for _, c := range f.since(mark, "chat.postMessage") {
		t.Errorf("the export posted in a channel: %v", c.Form)
	}
	bot.stop(t)
}
