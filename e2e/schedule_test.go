package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestScheduledBackupOfEveryInstance runs what the daily schedule runs:
// every ready instance gets a backup marked scheduled, intact.
func TestScheduledBackupOfEveryInstance(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := filepath.Join(env.root, "backups")
	if err := os.MkdirAll(backups, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BACKUP_DIR", backups)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	names := []string{uniqueName(t, "sched"), uniqueName(t, "sched")}
	for _, n := range names {
		destroyLater(t, a, n)
		createReady(t, ctx, a, n)
	}
	if err := a.Service.BackupAll(ctx, "schedule"); err != nil {
		t.Fatalf("BackupAll: %v", err)
	}
	for _, n := range names {
		list, err := a.Service.Backups(ctx, n)
		if err != nil || len(list) != 1 || list[0].Reason != provision.ReasonScheduled || !list[0].Intact {
			t.Errorf("backups of %s: %+v, %v; want one intact scheduled backup", n, list, err)
			continue
		}
		if err := a.Service.VerifyBackup(list[0]); err != nil {
			t.Errorf("the scheduled backup of %s does not verify: %v", n, err)
		}
	}
}
