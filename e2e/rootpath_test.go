package e2e

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeRefusesDirectoriesAnotherUserCanMove: an API-DEV server keeps
// PROD_ROOT under the service user's home, and an imported instance runs
// as that user: it could rename what root writes there. serve refuses to
// start, naming the directory, who can change it and the fix, and starts
// once the directory is root's again.
func TestServeRefusesDirectoriesAnotherUserCanMove(t *testing.T) {
	env := newCreateEnv(t)
	bin := odoobotBin(t)
	service, err := user.Lookup(env.config(t).ServiceUser)
	if err != nil {
		t.Fatalf("the sandbox's SERVICE_USER: %v", err)
	}
	uid, _ := strconv.Atoi(service.Uid)
	gid, _ := strconv.Atoi(service.Gid)
	home := filepath.Join(env.root, "home")
	prod := filepath.Join(home, "apps", "production")
	if err := os.MkdirAll(prod, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	// Only the binary's environment names the new PROD_ROOT; the test's
	// own configuration (and its clean-up) keeps the one it made.
	orig := env.overrides["PROD_ROOT"]
	env.overrides["PROD_ROOT"] = prod
	t.Cleanup(func() { env.overrides["PROD_ROOT"] = orig })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := env.command(ctx, bin, "serve")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started with PROD_ROOT under a directory owned by %s:\n%s", service.Username, out)
	}
	for _, want := range []string{"PROD_ROOT", "user " + service.Username, home, "chown root " + home} {
		if !strings.Contains(string(out), want) {
			t.Errorf("serve's refusal does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "serving") {
		t.Errorf("serve began serving before it refused:\n%s", out)
	}

	if err := os.Chown(home, 0, 0); err != nil {
		t.Fatal(err)
	}
	cmd = env.command(ctx, bin, "serve")
	cmd.Stdin = strings.NewReader("")
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "serving") {
		t.Fatalf("serve with root's directories: %v\n%s", err, out)
	}
}
