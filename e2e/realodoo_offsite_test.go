package e2e

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestRealOdooRecoverFromOffsite: a real Odoo 19.0 instance with a
// partner and an attachment written through Odoo is backed up offsite
// and deleted; on a server whose state, instance root and BACKUP_DIR
// are new and empty, `odoobot recover --all` serves it again from the
// offsite repository alone: the partner is there, the attachment's
// bytes come back through Odoo, and the admin password of before logs
// in, through nginx. TestPurgedHostRecovery proves the same on a
// sandbox purged in between.
func TestRealOdooRecoverFromOffsite(t *testing.T) {
	needSandbox(t)
	env := realOdooEnv(t, "19.0")
	env.withOffsite(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	inst, pw := createRealOdoo(t, ctx, a, uniqueName(t, "rr"))
	want := writeRecoverable(t, ctx, a, inst, pw)
	r, _ := dispatch(t, ctx, a, "delete "+inst.Name)
	if c := confirmAndWait(t, ctx, a, r); !strings.Contains(finishes(c), "deleted "+inst.Internal) {
		t.Fatalf("delete:\n%s", c.text())
	}

	fresh := realOdooEnv(t, "19.0")
	fresh.sameOffsite(t, env)
	recoverAll(t, ctx, fresh, want)
}

// recoverable is what a test wrote into an instance before its server
// was lost, and checks after the recovery.
type recoverable struct {
	Name, Password, Partner string
	Attachment              []byte
}

// writeRecoverable writes a partner with an attachment into inst through
// Odoo's RPC, as its admin, and backs it up offsite.
func writeRecoverable(t *testing.T, ctx context.Context, a *app.App, inst provision.Instance, pw string) recoverable {
	t.Helper()
	want := recoverable{Name: inst.Name, Password: pw, Partner: "Cliente recuperado",
		Attachment: []byte("the bytes of an attachment that must survive the server")}
	oc := newOdooClient(t, inst)
	if _, err := oc.authenticate(ctx, "admin", pw); err != nil {
		t.Fatalf("log in to %s: %v", inst.Domain, err)
	}
	partner, err := oc.callInt(ctx, "res.partner", "create", []any{map[string]any{"name": want.Partner}})
	if err != nil {
		t.Fatalf("create a partner: %v", err)
	}
	if _, err := oc.callInt(ctx, "ir.attachment", "create", []any{map[string]any{
		"name": "contrato.txt", "res_model": "res.partner", "res_id": partner,
		"datas": base64.StdEncoding.EncodeToString(want.Attachment),
	}}); err != nil {
		t.Fatalf("create an attachment: %v", err)
	}
	r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
	waitFinished(t, r)
	if !strings.Contains(r.text(), "and offsite") {
		t.Fatalf("the backup is not offsite:\n%s", r.text())
	}
	return want
}

// recoverAll runs `odoobot recover --all` on env, a server that has none
// of the instance, and checks that the instance serves again what
// writeRecoverable wrote, through nginx, with the admin password of
// before.
func recoverAll(t *testing.T, ctx context.Context, env *createEnv, want recoverable) {
	t.Helper()
	start := time.Now()
	out, err := env.command(ctx, odoobotBin(t), "recover", "--all").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "recovered "+want.Name) {
		t.Fatalf("odoobot recover --all: %v\n%s", err, out)
	}
	t.Logf("Odoo 19.0: recovered from offsite in %s", time.Since(start).Round(time.Millisecond))
	logText(t, "odoobot recover --all:\n%s", out)
	b, _ := env.newApp(t, app.Options{})
	got, err := b.Store.Instance(ctx, want.Name)
	if err != nil || got.State != provision.StateReady {
		t.Fatalf("the recovered record: %+v, %v", got, err)
	}
	destroyLater(t, b, want.Name)
	requireLoginPage(t, ctx, got)
	oc := newOdooClient(t, got)
	if _, err := oc.authenticate(ctx, "admin", want.Password); err != nil {
		t.Fatalf("the admin password of before does not log in to the recovered %s: %v", got.Domain, err)
	}
	n, err := oc.callInt(ctx, "res.partner", "search_count", []any{[]any{[]any{"name", "=", want.Partner}}})
	if err != nil || n != 1 {
		t.Errorf("partners named %s: %d, %v; want 1", want.Partner, n, err)
	}
	var atts []struct {
		Datas string `json:"datas"`
	}
	if err := oc.call(ctx, "ir.attachment", "search_read", []any{[]any{[]any{"name", "=", "contrato.txt"}}, []any{"datas"}}, &atts); err != nil || len(atts) != 1 {
		t.Fatalf("the attachment after the recovery: %+v, %v", atts, err)
	}
	if got, _ := base64.StdEncoding.DecodeString(atts[0].Datas); string(got) != string(want.Attachment) {
		t.Errorf("the attachment's bytes after the recovery = %q, want %q", got, want.Attachment)
	}
}
