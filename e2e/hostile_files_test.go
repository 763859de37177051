package e2e

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision"
)

// TestHostileTenantFiles: a tenant that lays traps in its own tree, as
// its own Unix user, while odoobot works on it. A loop of its plants a
// link to a root-owned canary directory (standing for /etc) at every
// staging-looking name of its filestore dir, keeps a link to a root-only
// file and a link to the canary in its filestore, and swaps one of its
// files for a link to the root-only file and back, over and over. Then
// backup, restore, clone and upgrade run, and at last its filestore
// directory itself is swapped for a link to the canary before a backup
// and a restore. After each: nothing in the canary was written, removed
// or chowned; no backup of the tenant holds root-only content or a link;
// the clone holds no link; the verbs that had nothing to refuse
// succeeded and the instance serves.
func TestHostileTenantFiles(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	backups := env.withBackupDir(t)
	repo := newTestRepo(t, env.root, os.Getenv("ODOO_REPO"), os.Getenv("ODOO_BRANCH"))
	env.set(t, "ODOO_REPO", "file://"+repo.dir)
	// Ports of its own, high in the ranges: the restore stops the
	// instance, and another test's instance, counting from the bottom of
	// the same range in a state of its own, must not take its port then.
	var off [1]byte
	rand.Read(off[:])
	base := 2600 + int(off[0])%40*10
	env.set(t, "HTTP_PORT_RANGE", fmt.Sprintf("%d-%d", base, base+9))
	env.set(t, "GEVENT_PORT_RANGE", fmt.Sprintf("%d-%d", base+6000, base+6009))
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	inst := createReady(t, ctx, a, uniqueName(t, "hostile"))
	p := a.Config.Layout().Paths(inst)
	stores := filepath.Join(p.DataDir, "filestore")
	own := filepath.Join(stores, inst.Internal)

	// The canary: root's, like /etc, with a root-only file like
	// odoobot's env file.
	canary := filepath.Join(env.root, "canary")
	secret := "ODOOBOT_CANARY_SECRET_" + randomHex(t, 8)
	if err := os.MkdirAll(canary, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canary, "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootOnly := filepath.Join(canary, "odoobot.env")
	if err := os.WriteFile(rootOnly, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, canary)
	// Each step is judged on its own: a change is reported once, and
	// becomes what the next step is compared with.
	requireCanary := func(t *testing.T, after string) {
		t.Helper()
		if got := snapshot(t, canary); got != want {
			t.Errorf("after %s, the canary directory changed (root wrote or chowned through a tenant's link):\nbefore:\n%s\nafter:\n%s", after, want, got)
			want = got
		}
	}
	requireCleanBackups := func(t *testing.T, after string) {
		t.Helper()
		for _, arc := range globBackups(t, filepath.Join(backups, inst.Internal)) {
			links, body := readArchive(t, arc)
			if strings.Contains(body, secret[:20]) {
				t.Errorf("after %s, backup %s holds root-only content", after, arc)
			}
			if len(links) > 0 {
				t.Errorf("after %s, backup %s holds links: %v", after, arc, links)
			}
		}
	}

	asTenant := func(script string) *exec.Cmd {
		return exec.CommandContext(ctx, "runuser", "-u", inst.User, "--", "sh", "-c", script)
	}
	setup := fmt.Sprintf(`set -e
mkdir -p %[1]s/ab %[1]s/cd0
echo attachment > %[1]s/ab/abcdef
ln -sfn %[2]s %[1]s/ab/env
ln -sfn %[3]s %[1]s/cd
`, own, rootOnly, canary)
	if out, err := asTenant(setup).CombinedOutput(); err != nil {
		t.Fatalf("the tenant's setup: %v\n%s", err, out)
	}
	var plant strings.Builder
	plant.WriteString("while :; do\n")
	for _, n := range []string{"." + inst.Internal + ".restore", "." + inst.Internal + ".old", inst.Internal + provision.RestoreStagingSuffix, inst.Internal + provision.RestoreOldSuffix} {
		q := filepath.Join(stores, n)
		fmt.Fprintf(&plant, "  { [ -d %[1]s ] && [ ! -L %[1]s ]; } || ln -sfn %[2]s %[1]s\n", q, canary)
	}
	fmt.Fprintf(&plant, "  echo data > %[1]s/ab/.s && mv -f %[1]s/ab/.s %[1]s/ab/swap\n", own)
	fmt.Fprintf(&plant, "  ln -sfn %[2]s %[1]s/ab/.l && mv -fT %[1]s/ab/.l %[1]s/ab/swap\n", own, rootOnly)
	plant.WriteString("  sleep 0.02\ndone\n")
	planter := asTenant(plant.String())
	planter.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := planter.Start(); err != nil {
		t.Fatal(err)
	}
	stopPlanter := func() {
		if planter.Process != nil {
			syscall.Kill(-planter.Process.Pid, syscall.SIGKILL)
			planter.Wait()
			planter.Process = nil
		}
	}
	defer stopPlanter()
	time.Sleep(200 * time.Millisecond)

	t.Run("backup", func(t *testing.T) {
		r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
		if f := finishes(waitFinished(t, r)); !strings.Contains(f, "backed up "+inst.Internal) {
			t.Fatalf("backup did not succeed:\n%s", r.text())
		}
		requireCanary(t, "backup")
		requireCleanBackups(t, "backup")
	})

	bl, err := a.Service.Backups(ctx, inst.Name)
	if err != nil || len(bl) == 0 {
		t.Fatalf("no backup to restore: %v, %v", bl, err)
	}
	first := bl[0]

	t.Run("restore", func(t *testing.T) {
		r, _ := dispatch(t, ctx, a, "restore "+inst.Name+" "+first.ID)
		c := confirmAndWait(t, ctx, a, r)
		if f := finishes(c); !strings.Contains(f, "restored "+inst.Internal) {
			t.Errorf("restore did not succeed:\n%s", c.text())
		}
		requireCanary(t, "restore")
		requireCleanBackups(t, "restore")
		if got := readFile(filepath.Join(own, "ab", "abcdef")); got != "attachment\n" {
			t.Errorf("the restored attachment = %q", got)
		}
		requireAnswers(t, ctx, inst)
	})

	t.Run("clone", func(t *testing.T) {
		dst := uniqueName(t, "hostile-stg")
		destroyLater(t, a, dst)
		r, _ := dispatch(t, ctx, a, "clone "+inst.Name+" "+dst)
		if f := finishes(waitFinished(t, r)); !strings.Contains(f, "is a staging copy of") {
			t.Fatalf("clone did not succeed:\n%s", r.text())
		}
		requireCanary(t, "clone")
		clone, err := a.Store.Instance(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		cp := a.Config.Layout().Paths(clone)
		copied := filepath.Join(cp.DataDir, "filestore", clone.Internal)
		if got := readFile(filepath.Join(copied, "ab", "abcdef")); got != "attachment\n" {
			t.Errorf("the clone's attachment = %q", got)
		}
		filepath.WalkDir(copied, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.Type()&fs.ModeSymlink != 0 {
				t.Errorf("the clone's filestore holds a link: %s", path)
			}
			if owner, _ := fileOwner(t, path); owner != clone.User+":"+clone.User {
				t.Errorf("%s in the clone is %s's, want %s's", path, owner, clone.User)
			}
			return nil
		})
	})

	t.Run("upgrade", func(t *testing.T) {
		now, err := a.Store.Instance(ctx, inst.Name)
		if err != nil {
			t.Fatal(err)
		}
		next := repo.commit("a later commit", map[string]string{"HOSTILE": "a later commit\n"})
		requireUpgraded(t, ctx, a, now, "latest", next)
		requireCanary(t, "upgrade")
		requireCleanBackups(t, "upgrade")
		requireAnswers(t, ctx, inst)
	})

	t.Run("filestore swapped for a link", func(t *testing.T) {
		stopPlanter()
		swap := fmt.Sprintf("set -e; mv -T %[1]s %[1]s.real; ln -s %[2]s %[1]s", own, canary)
		if out, err := asTenant(swap).CombinedOutput(); err != nil {
			t.Fatalf("the tenant's swap: %v\n%s", err, out)
		}
		r, _ := dispatch(t, ctx, a, "backup "+inst.Name)
		if f := finishes(waitFinished(t, r)); !strings.Contains(f, "failed") || !strings.Contains(r.text(), "symbolic link") {
			t.Errorf("a backup through a filestore that is a link: want a failure saying so:\n%s", r.text())
		}
		requireCanary(t, "a backup through the link")
		r, _ = dispatch(t, ctx, a, "restore "+inst.Name+" "+first.ID)
		c := confirmAndWait(t, ctx, a, r)
		requireCanary(t, "a restore through the link")
		requireCleanBackups(t, "a restore through the link")
		logText(t, "the restore over a filestore that is a link:\n%s", c.text())
		requireAnswers(t, ctx, inst)
	})

	staging := filepath.Join(a.Config.ProdRoot, provision.StagingDirName)
	if owner, mode := fileOwner(t, staging); owner != "root:root" || mode != 0o700 {
		t.Errorf("the staging directory is %s %o, want root:root 700", owner, mode)
	}
}

// snapshot lists every file under dir with its owner, mode, size and
// checksum, one line each, sorted.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		sum := ""
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(path)
			sum = fmt.Sprintf("%x", sha256.Sum256(b))[:16]
		}
		out = append(out, fmt.Sprintf("%s %d:%d %v %d %s", path, st.Uid, st.Gid, fi.Mode(), fi.Size(), sum))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// globBackups is every filestore archive under dir.
func globBackups(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*", "filestore.tar.gz"))
	return m
}

// readArchive is the names of the links in a filestore archive and all
// its files' bytes.
func readArchive(t *testing.T, path string) (links []string, body string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var b strings.Builder
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if hdr.Typeflag == tar.TypeSymlink || hdr.Typeflag == tar.TypeLink {
			links = append(links, hdr.Name)
		}
		io.Copy(&b, tr)
	}
	return links, b.String()
}
