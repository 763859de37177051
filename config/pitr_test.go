package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The point-in-time settings are refused, each saying what to do: no
// cipher pass file, one readable by others, no data directory, a
// relative path, a bad backup time, a pass file without a repository.
func TestPITRSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("a-cipher-pass-of-the-tests-0123\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := map[string]string{"PITR_REPOSITORY": "/srv/pitr", "PITR_PG_DATA": "/var/lib/postgresql/15/main"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{good, "PITR_CIPHER_PASS_FILE is not"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass}), "chmod 600"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass, "PITR_PG_DATA": ""}), "PITR_PG_DATA is not"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass, "PITR_REPOSITORY": "pitr"}), "give an absolute path"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass, "PITR_BACKUP_TIME": "25:00"}), "PITR_BACKUP_TIME"},
		{map[string]string{"PITR_CIPHER_PASS_FILE": pass}, "PITR_REPOSITORY is not"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass, "PITR_REPOSITORY": "s3:https://s3.example.com/bucket"}), "PITR_S3_ENV_FILE is not set"},
		{with(map[string]string{"PITR_CIPHER_PASS_FILE": pass, "PITR_REPOSITORY": "s3:http://s3.example.com/bucket", "PITR_S3_ENV_FILE": pass}), "over TLS only"},
	} {
		clearEnv(t)
		t.Setenv("CF_ZONE_NAME", "example.com")
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		_, err := Load("", false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error saying %q", tc.env, err, tc.want)
		}
	}
	if err := os.Chmod(pass, 0o600); err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	for k, v := range with(map[string]string{"PITR_CIPHER_PASS_FILE": pass}) {
		t.Setenv(k, v)
	}
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "a-cipher-pass") {
			t.Errorf("%s shows the pass", s.Env)
		}
	}
}
