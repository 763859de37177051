package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The offsite settings are refused, each saying what to do, when the
// password file is missing, readable by others, or a link, and when the
// backend's env file would set the repository or its password.
func TestOffsiteSettingsAreChecked(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(pw, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OFFSITE_REPOSITORY": "/srv/offsite"}, "OFFSITE_PASSWORD_FILE is not"},
		{map[string]string{"OFFSITE_REPOSITORY": "/srv/offsite", "OFFSITE_PASSWORD_FILE": pw}, "chmod 600"},
		{map[string]string{"OFFSITE_REPOSITORY": "/srv/offsite", "OFFSITE_PASSWORD_FILE": link}, "not a regular file"},
		{map[string]string{"OFFSITE_PASSWORD_FILE": pw}, "OFFSITE_REPOSITORY is not"},
		{map[string]string{"OFFSITE_REPOSITORY": "/srv/offsite", "OFFSITE_PASSWORD_FILE": "/nonexistent/pw"}, "cannot be read"},
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

	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "env")
	if err := os.WriteFile(envFile, []byte("AWS_ACCESS_KEY_ID=k\nAWS_SECRET_ACCESS_KEY=s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("OFFSITE_REPOSITORY", "s3:http://127.0.0.1:9000/offsite")
	t.Setenv("OFFSITE_PASSWORD_FILE", pw)
	t.Setenv("OFFSITE_ENV_FILE", envFile)
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	env, err := c.OffsiteEnv()
	if err != nil || strings.Join(env, " ") != "AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s" {
		t.Errorf("OffsiteEnv = %q, %v", env, err)
	}
	if err := os.WriteFile(envFile, []byte("RESTIC_PASSWORD=other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OffsiteEnv(); err == nil || !strings.Contains(err.Error(), "OFFSITE_PASSWORD_FILE") {
		t.Errorf("an env file setting RESTIC_PASSWORD: %v", err)
	}
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "secret") {
			t.Errorf("setting %s shows %q", s.Env, s.Value)
		}
	}
}
