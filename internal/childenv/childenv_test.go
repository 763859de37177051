package childenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A child given Env sees none of odoobot's environment.
func TestChildSeesNoSecret(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-secret-of-the-test")
	t.Setenv("DB_PASSWORD", "db-secret-of-the-test")
	cmd := exec.Command("env")
	cmd.Env = Env("PGAPPNAME=odoobot")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, secret := range []string{os.Getenv("SLACK_BOT_TOKEN"), os.Getenv("DB_PASSWORD")} {
		if strings.Contains(got, secret) {
			t.Errorf("the child's environment holds a secret:\n%s", got)
		}
	}
	for _, want := range []string{"PATH=" + Path, "HOME=" + Home, "PGAPPNAME=odoobot"} {
		if !strings.Contains(got, want) {
			t.Errorf("the child's environment lacks %s:\n%s", want, got)
		}
	}
}
