package e2e

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestStoredNamesAreNotTrusted plants, in instance A's row of odoobot's
// state database (as anyone holding odoobot's role could), names other
// than those odoobot derives — its neighbour B's directory, database,
// role and unit, "../..", root, dbus.service, or the claim that it shares
// the service user — then asks for delete, restore and stop of A. Each is
// refused before it changes anything, naming the field; B keeps serving
// with its files, database and user, dbus stays up, A's row is as
// planted and A still serves once its row is put back.
func TestStoredNamesAreNotTrusted(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	env.withBackupDir(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nameA, nameB := uniqueName(t, "trust-a"), uniqueName(t, "trust-b")
	instA := createReady(t, ctx, a, nameA)
	instB := createReady(t, ctx, a, nameB)
	dt := a.Service
	task, err := dt.Backup(ctx, provision.JobRequest{Name: nameA, By: "e2e"})
	if err != nil {
		t.Fatal(err)
	}
	if job, err := task.Wait(ctx); err != nil || job.State != provision.JobSucceeded {
		t.Fatalf("backup of %s: %s, %v", nameA, job.State, err)
	}
	list, err := dt.Backups(ctx, nameA)
	if err != nil || len(list) == 0 {
		t.Fatalf("backups of %s: %v, %v", nameA, list, err)
	}
	backupID := list[0].ID

	state := connectDB(t, ctx, a, a.Config.StateDBName)
	plant := func(t *testing.T, set map[string]string) {
		t.Helper()
		for col, v := range set {
			// col is one of this test's own column names, never input.
			if _, err := state.Exec(ctx, "UPDATE odoobot.instances SET "+pgx.Identifier{col}.Sanitize()+" = $1 WHERE name = $2", v, nameA); err != nil {
				t.Fatalf("plant %s = %q: %v", col, v, err)
			}
		}
		t.Cleanup(func() {
			_, err := state.Exec(context.Background(), `UPDATE odoobot.instances SET domain = $2, internal = $3, unit = $4,
				system_user = $5, db_role = $6, http_port = $7, state = 'ready' WHERE name = $1`,
				nameA, instA.Domain, instA.Internal, instA.Unit, instA.User, instA.DBRole, instA.Ports.HTTP)
			if err != nil {
				t.Errorf("put A's row back: %v", err)
			}
		})
	}
	refused := func(t *testing.T, err error, field string) {
		t.Helper()
		var se *provision.StoredNameError
		if !errors.As(err, &se) || se.Field != field {
			t.Fatalf("got %v; want a refusal naming %s", err, field)
		}
		if !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("the refusal %q does not name %s or say that nothing changed", err, field)
		}
		if _, busy, err := a.Store.ActiveJob(ctx, nameA); err != nil || busy {
			t.Errorf("a job runs on %s after the refusal (%v)", nameA, err)
		}
	}
	del := func() error {
		task, err := dt.Delete(ctx, provision.JobRequest{Name: nameA, By: "e2e"})
		if err == nil {
			job, _ := task.Wait(ctx)
			return errors.New("delete was queued and ended " + string(job.State) + ": " + job.Error)
		}
		return err
	}
	restore := func() error {
		task, err := dt.Restore(ctx, provision.JobRequest{Name: nameA, Backup: backupID, By: "e2e"})
		if err == nil {
			job, _ := task.Wait(ctx)
			return errors.New("restore was queued and ended " + string(job.State) + ": " + job.Error)
		}
		return err
	}
	stop := func() error { return a.Operator.Stop(ctx, nameA, "e2e") }

	for _, c := range []struct {
		name  string
		set   map[string]string
		run   func() error
		field string
	}{
		// The column is unique, so the neighbour's directory is reached
		// through a path that cleans to it.
		{"delete/internal=neighbour", map[string]string{"internal": instB.Internal + "/../" + instB.Internal}, del, "internal"},
		{"delete/internal=../..", map[string]string{"internal": "../.."}, del, "internal"},
		{"delete/system_user=root", map[string]string{"system_user": "root"}, del, "system_user"},
		{"restore/db_role=neighbour", map[string]string{"db_role": instB.DBRole}, restore, "db_role"},
		{"restore/system_user=root", map[string]string{"system_user": "root"}, restore, "system_user"},
		{"restore/shared", map[string]string{"system_user": "", "db_role": ""}, restore, "system_user"},
		{"restore/http_port=neighbour", map[string]string{"http_port": strconv.Itoa(instB.Ports.HTTP)}, restore, "http_port"},
		{"stop/unit=neighbour", map[string]string{"unit": instB.Unit}, stop, "unit"},
		{"stop/unit=dbus.service", map[string]string{"unit": "dbus.service"}, stop, "unit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			plant(t, c.set)
			refused(t, c.run(), c.field)
			requireAnswers(t, ctx, instB)
		})
	}

	// Nothing outside A was touched: B's directory, database, user, role
	// and unit are there and it serves; dbus runs; A's database is still
	// its own role's, and A serves on its row put back.
	layout := a.Config.Layout()
	for _, p := range []string{layout.Paths(instB).Dir, layout.Paths(instB).Conf, layout.Paths(instA).Dir, filepath.Join(layout.ProdRoot, "..", "..")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !databaseExists(t, ctx, a, instB.Internal) || !databaseExists(t, ctx, a, instA.Internal) {
		t.Errorf("a database is gone: %s %v, %s %v", instA.Internal, databaseExists(t, ctx, a, instA.Internal), instB.Internal, databaseExists(t, ctx, a, instB.Internal))
	}
	for _, u := range []string{instA.User, instB.User, "root"} {
		if _, err := user.Lookup(u); err != nil {
			t.Errorf("system user %s: %v", u, err)
		}
	}
	var owner string
	if err := connectDB(t, ctx, a, "postgres").QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", instA.Internal).Scan(&owner); err != nil || owner != instA.DBRole {
		t.Errorf("%s is owned by %q (%v), want %s", instA.Internal, owner, err, instA.DBRole)
	}
	for _, unit := range []string{instB.Unit, "dbus.service", instA.Unit} {
		if st, err := a.Services.Status(ctx, unit); err != nil || !st.Running() {
			t.Errorf("%s: %+v, %v; want it running", unit, st, err)
		}
	}
	requireAnswers(t, ctx, instA)
	requireAnswers(t, ctx, instB)
	got, err := a.Store.Instance(ctx, nameA)
	if err != nil || got.State != provision.StateReady || got.Internal != instA.Internal {
		t.Errorf("A's row after the refusals: %+v, %v", got, err)
	}
}
