package odoo_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"odoobot/internal/testenv"
	"odoobot/provision/odoo"
)

// passlibVerify asks Debian's python3-passlib, which Odoo hashes with,
// whether password matches hash.
func passlibVerify(t *testing.T, password, hash string) bool {
	t.Helper()
	py := debianPython(t)
	if err := exec.Command(py, "-c", "import passlib.hash").Run(); err != nil {
		testenv.Missing(t, "python3-passlib is not installed")
	}
	out, err := exec.Command(py, "-c", "import sys\nfrom passlib.hash import pbkdf2_sha512\nprint(pbkdf2_sha512.verify(sys.argv[1], sys.argv[2]))", password, hash).CombinedOutput()
	if err != nil {
		t.Fatalf("passlib: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out)) == "True"
}

// debianPython is Debian's interpreter, which sees Debian's python3-*
// packages (a python3 first on PATH may be another one).
func debianPython(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return testenv.LookPath(t, "python3")
}

func TestHashPasswordIsPasslibs(t *testing.T) {
	const pw = "Zq7 pässword-4f1c9e"
	start := time.Now()
	h, err := odoo.HashPassword(pw, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hash with %d rounds took %s", odoo.MinHashRounds, time.Since(start).Round(time.Millisecond))
	parts := strings.Split(h, "$")
	if len(parts) != 5 || parts[1] != "pbkdf2-sha512" || parts[2] != "600000" || len(parts[3]) != 22 || len(parts[4]) != 86 {
		t.Fatalf("hash %q is not $pbkdf2-sha512$600000$<22 chars>$<86 chars>", h)
	}
	if strings.ContainsAny(h, "+=") {
		t.Errorf("hash %q is not in adapted base64", h)
	}
	if !odoo.VerifyPassword(pw, h) || odoo.VerifyPassword("admin", h) {
		t.Errorf("VerifyPassword does not tell the password from another")
	}
	if !passlibVerify(t, pw, h) {
		t.Errorf("passlib does not verify %q", h)
	}
	if passlibVerify(t, "admin", h) {
		t.Errorf("passlib verifies another password against %q", h)
	}
	// And the other way: a hash made by passlib is verified here.
	out, err := exec.Command(debianPython(t), "-c", "from passlib.hash import pbkdf2_sha512\nprint(pbkdf2_sha512.using(rounds=1000).hash('admin'))").Output()
	if err != nil {
		t.Fatal(err)
	}
	if ph := strings.TrimSpace(string(out)); !odoo.VerifyPassword("admin", ph) {
		t.Errorf("VerifyPassword refuses passlib's %q", ph)
	}
}

func TestHashPasswordRounds(t *testing.T) {
	h, err := odoo.HashPassword("x", 700_000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$pbkdf2-sha512$700000$") {
		t.Errorf("rounds above the minimum not kept: %q", h)
	}
	h2, _ := odoo.HashPassword("x", 0)
	if h == h2 || strings.Split(h, "$")[3] == strings.Split(h2, "$")[3] {
		t.Errorf("two hashes share a salt")
	}
}
