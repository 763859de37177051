package offsite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/internal/childenv"
	"odoobot/provision"
)

// No error odoobot hands up holds the repository's location (which may
// hold credentials), the storage's keys, the password file's path or
// its content, whatever restic wrote.
func TestSecretsStayOutOfErrors(t *testing.T) {
	t.Parallel()
	needRestic(t)
	ctx := ctxT(t)
	const password = "pw-content-that-must-not-leak"
	pw := passwordFile(t, password)
	env := []string{"AWS_ACCESS_KEY_ID=AKIAcred5150", "AWS_SECRET_ACCESS_KEY=secret-cred-5150"}
	repos := []string{
		"rest:http://odoobot:cred-5150@127.0.0.1:1/repo", // nothing listens on port 1
		"s3:http://127.0.0.1:1/bucket-cred-5150",
		"sftp:odoobot@127.0.0.1:/srv/cred-5150", // port 22: refused, or not our key
		filepath.Join(t.TempDir(), "no-repo-cred-5150"),
	}
	b := testBackup(t, "acme", "20260105T031500Z", 1<<10)
	c := provision.OffsiteCopy{Snapshot: strings.Repeat("ab", 32)}
	for _, repo := range repos {
		for _, p := range []string{pw, filepath.Join(t.TempDir(), "missing-password-file")} {
			r := &Restic{Repository: repo, PasswordFile: p, Env: env, Host: "srv-test"}
			var initErr error
			if !strings.HasPrefix(repo, "/") { // Init would create it
				_, initErr = r.Init(ctx)
			}
			_, pushErr := r.Push(ctx, b)
			_, listErr := r.List(ctx, "acme")
			errs := []error{r.Check(ctx), initErr, pushErr, listErr,
				r.Fetch(ctx, c, provision.DumpName, filepath.Join(t.TempDir(), "out"), 1<<20),
				r.Forget(ctx, []string{c.Snapshot})}
			failed := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failed++
				text := err.Error()
				if e, ok := provision.AsError(err); ok {
					text += "\n" + e.Explain() + "\n" + strings.Join(e.Detail, "\n")
				}
				for _, secret := range []string{repo, "cred-5150", "cred5150", password, p} {
					if strings.Contains(text, secret) {
						t.Errorf("an error names %q:\n%s", secret, text)
					}
				}
			}
			if failed < 5 {
				t.Errorf("%s: only %d calls failed: the test proves little", repo, failed)
			}
		}
	}
}

// restic sees none of odoobot's environment: only the children's
// minimal one, the repository's settings and the storage's variables;
// the repository and the password file are never on its command line.
func TestResticEnvironmentAndArguments(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-planted-in-odoobot")
	t.Setenv("RESTIC_PASSWORD", "planted-restic-password")
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-restic")
	body := "#!/bin/sh\nenv > " + dir + "/env\nprintf '%s\\n' \"$@\" > " + dir + "/args\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := &Restic{Repository: "s3:http://key:secret@127.0.0.1:9/bucket", PasswordFile: "/etc/odoobot/offsite-password",
		Env: []string{"AWS_ACCESS_KEY_ID=AKIAEXAMPLE"}, Host: "srv-7", CacheDir: "/var/cache/odoobot/restic", Binary: script}
	b := testBackup(t, "acme", "20260105T031500Z-2", 1<<10)
	_, err := r.Push(ctxT(t), b)
	wantKind(t, err, provision.KindBroken, "restic could not push the backup")

	envText, _ := os.ReadFile(filepath.Join(dir, "env"))
	got := strings.Split(strings.TrimSpace(string(envText)), "\n")
	got = slices.DeleteFunc(got, func(kv string) bool {
		return strings.HasPrefix(kv, "PWD=") || strings.HasPrefix(kv, "SHLVL=") || strings.HasPrefix(kv, "_=")
	})
	slices.Sort(got)
	want := append(childenv.Env(), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "RESTIC_REPOSITORY="+r.Repository,
		"RESTIC_PASSWORD_FILE="+r.PasswordFile, "TZ=UTC")
	slices.Sort(want)
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("restic's environment (-got +want):\n%s", diff)
	}

	argsText, _ := os.ReadFile(filepath.Join(dir, "args"))
	args := strings.Split(strings.TrimSpace(string(argsText)), "\n")
	wantArgs := []string{"--cache-dir", "/var/cache/odoobot/restic", "backup", "--json", "-q",
		"--tag", "odoobot", "--tag", "instance=acme", "--tag", "backup=20260105T031500Z-2", "--tag", "reason=manual",
		"--time", "2026-01-05 03:15:00", "--host", "srv-7",
		"--", "manifest.json", "database.dump", "filestore.tar.gz", "odoo.conf"}
	if diff := cmp.Diff(args, wantArgs); diff != "" {
		t.Errorf("restic backup's arguments (-got +want):\n%s", diff)
	}
}

// What the driver refuses, it refuses before restic runs: nothing on
// restic's command line but plain names and hexadecimal ids, nothing in
// a tag that restic would split.
func TestRefusedBeforeResticRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "restic-ran")
	script := filepath.Join(dir, "fake-restic")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pw := passwordFile(t, testPassword)
	r := &Restic{Repository: filepath.Join(dir, "repo"), PasswordFile: pw, Binary: script}
	good := provision.OffsiteCopy{Snapshot: strings.Repeat("0a", 32)}
	out := filepath.Join(dir, "out")

	for _, name := range []string{"", ".", "..", "../odoo.conf", "a/b", "/etc/passwd", ".hidden", "-x", "--help", "a b", "x\n", "x\x00"} {
		wantKind(t, r.Fetch(ctxT(t), good, name, out, 1<<20), provision.KindRefused)
		noFile(t, out)
	}
	for _, id := range []string{"", "latest", "ABCDEF12", "abc", "../../x", "abcdefgh", strings.Repeat("a", 65), "--all"} {
		wantKind(t, r.Fetch(ctxT(t), provision.OffsiteCopy{Snapshot: id}, provision.DumpName, out, 1<<20), provision.KindRefused)
		noFile(t, out)
		wantKind(t, r.Forget(ctxT(t), []string{good.Snapshot, id}), provision.KindRefused)
	}
	wantKind(t, r.Fetch(ctxT(t), good, provision.DumpName, out, 0), provision.KindRefused)
	noFile(t, out)
	for _, internal := range []string{"a,b", "a b", "x\n"} {
		_, err := r.List(ctxT(t), internal)
		wantKind(t, err, provision.KindRefused)
	}

	push := func(change func(b *provision.BackupInfo)) error {
		b := testBackup(t, "acme", "20260105T031500Z", 1<<10)
		change(&b)
		_, err := r.Push(ctxT(t), b)
		return err
	}
	for what, change := range map[string]func(b *provision.BackupInfo){
		"a name with ..":     func(b *provision.BackupInfo) { b.Files[0].Name = "../../etc/shadow" },
		"a hidden name":      func(b *provision.BackupInfo) { b.Files[1].Name = ".verification.json" },
		"an option":          func(b *provision.BackupInfo) { b.Files[1].Name = "--exclude=x" },
		"a comma in a tag":   func(b *provision.BackupInfo) { b.Database = "acme,instance=other" },
		"a space in a tag":   func(b *provision.BackupInfo) { b.Reason = "manual x" },
		"no id":              func(b *provision.BackupInfo) { b.ID = "" },
		"no time":            func(b *provision.BackupInfo) { b.CreatedAt = time.Time{} },
		"a relative dir":     func(b *provision.BackupInfo) { b.Dir = "prod-acme/x" },
		"a missing file":     func(b *provision.BackupInfo) { os.Remove(filepath.Join(b.Dir, provision.DumpName)) },
		"a missing manifest": func(b *provision.BackupInfo) { os.Remove(filepath.Join(b.Dir, provision.ManifestName)) },
		"a link for a file": func(b *provision.BackupInfo) {
			p := filepath.Join(b.Dir, provision.ConfName)
			os.Remove(p)
			os.Symlink("/etc/passwd", p)
		},
		"a directory for a file": func(b *provision.BackupInfo) {
			p := filepath.Join(b.Dir, provision.ConfName)
			os.Remove(p)
			os.Mkdir(p, 0o700)
		},
	} {
		if err := push(change); !provision.IsKind(err, provision.KindRefused) {
			t.Errorf("Push with %s: %v, want refused", what, err)
		}
	}

	for _, env := range [][]string{{"RESTIC_PASSWORD=x"}, {"RESTIC_REPOSITORY=/elsewhere"}, {"RESTIC_PASSWORD_COMMAND=cat /x"}, {"NOEQUALS"}, {"=x"}} {
		bad := *r
		bad.Env = env
		wantKind(t, bad.Check(ctxT(t)), provision.KindRefused)
	}
	// No ids: nothing to do, nothing run.
	if err := r.Forget(ctxT(t), nil); err != nil {
		t.Errorf("Forget(nil): %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("restic ran for a call the driver should have refused")
	}
}

// A push killed mid-way (its storage stalled while it uploaded data,
// the context cancelled) leaves no copy, only its lock; the next push
// succeeds; the lock, which stops a prune, is removed by Forget (a
// stale lock: its process is gone from this host), which then prunes;
// the repository checks clean.
func TestKilledPush(t *testing.T) {
	t.Parallel()
	r, srv := s3Repo(t)
	b := testBackup(t, "acme", "20260105T031500Z", 512<<10)

	srv.SetHang("data/")
	pctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Push(pctx, b)
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !slices.ContainsFunc(srv.Requests(), func(req string) bool { return strings.HasPrefix(req, "PUT data/") }) {
		if time.Now().After(deadline) {
			t.Fatalf("restic never uploaded data; requests: %v", srv.Requests())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		wantKind(t, err, provision.KindUnavailable, "stopped before it ended")
	case <-time.After(15 * time.Second):
		t.Fatal("Push did not end once its context was cancelled")
	}
	srv.SetHang("")
	if keys, _ := srv.Keys("snapshots/"); len(keys) != 0 {
		t.Fatalf("a killed push left snapshots: %v", keys)
	}
	locks, _ := srv.Keys("locks/")
	if len(locks) != 1 {
		t.Fatalf("locks after a killed push: %v; want the killed run's one", locks)
	}
	if copies, err := r.List(ctxT(t), "acme"); err != nil || len(copies) != 0 {
		t.Fatalf("List after a killed push = %v, %v; want none", copies, err)
	}

	c, err := r.Push(ctxT(t), b)
	if err != nil {
		t.Fatalf("Push after a killed one: %v", err)
	}
	// The killed run's lock stops what needs the repository alone
	// (check, prune) until it is removed.
	if out, err := resticCmd(t, r, "check"); err == nil || !strings.Contains(out, "repository is already locked") {
		t.Errorf("restic check with a killed run's lock: %v\n%s; want it refused for the lock", err, out)
	}
	if err := r.Forget(ctxT(t), []string{c.Snapshot}); err != nil {
		t.Fatalf("Forget with a killed run's lock in the repository: %v", err)
	}
	if locks, _ := srv.Keys("locks/"); len(locks) != 0 {
		t.Errorf("locks left after Forget: %v", locks)
	}
	if out, err := resticCmd(t, r, "check"); err != nil || !strings.Contains(out, "no errors were found") {
		t.Errorf("restic check after a killed push and a Forget: %v\n%s", err, out)
	}
	if copies, err := r.List(ctxT(t), ""); err != nil || len(copies) != 0 {
		t.Errorf("List after Forget = %v, %v; want none", copies, err)
	}
}

// A repository whose disk is full fails the push as broken, with a hint
// about space, leaves no copy and leaves the backup as it was.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	src, _ := templateRepo(t)
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("skipped: a 4 MiB tmpfs cannot be mounted here (%v): the test needs root and a kernel that allows it", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	repo := filepath.Join(mnt, "repo")
	if err := os.CopyFS(repo, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	r := &Restic{Repository: repo, PasswordFile: passwordFile(t, testPassword), Host: "srv-test"}
	b := testBackup(t, "acme", "20260105T031500Z", 20<<20)
	before := sums(t, b.Dir)

	_, err := r.Push(ctxT(t), b)
	wantKind(t, err, provision.KindBroken, "out of space", "free space")
	if diff := cmp.Diff(sums(t, b.Dir), before); diff != "" {
		t.Errorf("a failed push changed the backup (-got +want):\n%s", diff)
	}
	if copies, err := r.List(ctxT(t), ""); err != nil || len(copies) != 0 {
		t.Errorf("List after a push into a full disk = %v, %v; want none", copies, err)
	}
}

// The messages restic 0.14 writes for each failure, as seen on this
// machine, and the kind each is handed up as.
func TestClassify(t *testing.T) {
	t.Parallel()
	exit1 := exec.Command("/bin/false").Run()
	for _, tc := range []struct {
		stderr string
		kind   provision.ErrorKind
		noRepo bool
	}{
		{"Fatal: wrong password or no key found\n", provision.KindRefused, false},
		{"Resolving password failed: Fatal: OFFSITE_PASSWORD_FILE does not exist\n", provision.KindRefused, false},
		{"Fatal: an empty password is not a password\n", provision.KindRefused, false},
		{"Fatal: unable to open config file: stat OFFSITE_REPOSITORY/config: no such file or directory\nIs there a repository at the following location?\nOFFSITE_REPOSITORY\n", provision.KindRefused, true},
		{"Fatal: unable to open config file: Stat: The specified key does not exist.\nIs there a repository at the following location?\nOFFSITE_REPOSITORY\n", provision.KindRefused, true},
		{"Fatal: unable to open config file: Stat: Service is unable to handle request.\nIs there a repository at the following location?\nOFFSITE_REPOSITORY\n", provision.KindUnavailable, false},
		{"Fatal: unable to open config file: Stat: Get \"http://127.0.0.1:1/b/?location=\": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\n", provision.KindUnavailable, false},
		{"Fatal: unable to open config file: Stat: Get \"http://x.invalid:9000/b/?location=\": dial tcp: lookup x.invalid on 10.0.0.53:53: no such host\n", provision.KindUnavailable, false},
		{"Fatal: create repository at OFFSITE_REPOSITORY failed: client.BucketExists: Service is unable to handle request.\n", provision.KindUnavailable, false},
		{"Fatal: unable to save snapshot: write OFFSITE_REPOSITORY/data/67/67d4-tmp-31: no space left on device\n", provision.KindBroken, false},
		{"Fatal: parsing repository location failed: invalid backend\nIf the repository is in a local directory, you need to add a `local:` prefix\n", provision.KindRefused, false},
		{"unable to create lock in backend: repository is already locked exclusively by PID 11 on host by root (UID 0, GID 0)\n", provision.KindConflict, false},
		{"Fatal: unable to open config file: Stat: Access Denied.\nIs there a repository at the following location?\n", provision.KindRefused, false},
		{"Fatal: something restic has never said before\n", provision.KindBroken, false},
	} {
		err := classify(context.Background(), "open the repository", runResult{stderr: tc.stderr, exit: 1}, exit1)
		e, _ := provision.AsError(err)
		if e == nil || e.Kind != tc.kind || errors.Is(err, errNoRepository) != tc.noRepo {
			t.Errorf("%q: %v (no repository: %v), want %s (no repository: %v)", tc.stderr, e, errors.Is(err, errNoRepository), tc.kind, tc.noRepo)
		}
	}
}

// A snapshot restic made without every file (exit 3, "some source data
// could not be read"; or exit 0 having skipped a file that went away)
// is forgotten again, and the push fails: a copy is whole or is not.
func TestIncompleteSnapshotIsForgotten(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		exit  int
		files int
	}{
		{"exit 3", 3, 4},
		{"a file skipped", 0, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			calls := filepath.Join(dir, "calls")
			script := filepath.Join(dir, "fake-restic")
			body := fmt.Sprintf(`#!/bin/sh
echo "$*" >> %s
for a in "$@"; do
	if [ "$a" = backup ]; then
		echo '{"message_type":"summary","total_files_processed":%d,"snapshot_id":"0123abcd"}'
		echo 'error: read database.dump: input/output error' >&2
		exit %d
	fi
done
exit 0
`, calls, tc.files, tc.exit)
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			r := &Restic{Repository: filepath.Join(dir, "repo"), PasswordFile: passwordFile(t, testPassword), Binary: script}
			_, err := r.Push(ctxT(t), testBackup(t, "acme", "20260105T031500Z", 1<<10))
			wantKind(t, err, provision.KindBroken)
			log, _ := os.ReadFile(calls)
			if !strings.Contains(string(log), "forget -q --prune -- 0123abcd") {
				t.Errorf("the incomplete snapshot was not forgotten; restic ran:\n%s", log)
			}
		})
	}
}

// A run stopped at its deadline is told by what restic wrote while it
// retried; with nothing known, as one that did not end in time; never
// as a missing repository (Init would try to create one).
func TestClassifyAtDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	killed := exec.Command("/bin/sh", "-c", "kill -9 $$").Run()
	for _, tc := range []struct {
		stderr string
		kind   provision.ErrorKind
		want   string
	}{
		{"Save(<data/67d4898f85>) returned error, retrying after 720ms: write OFFSITE_REPOSITORY/data/67/67d4-tmp: no space left on device\n", provision.KindBroken, "out of space"},
		{"Save(<lock/0941d15d>) returned error, retrying after 552ms: Put \"http://127.0.0.1:1/b/locks/0941\": dial tcp 127.0.0.1:1: connect: connection refused\n", provision.KindUnavailable, "cannot be reached"},
		{"Is there a repository at the following location?\n", provision.KindUnavailable, "did not answer in time"},
		{"", provision.KindUnavailable, "did not answer in time"},
	} {
		err := classify(ctx, "push the backup", runResult{stderr: tc.stderr, exit: -1}, killed)
		e, _ := provision.AsError(err)
		if e == nil || e.Kind != tc.kind || !strings.Contains(e.Explain(), tc.want) || errors.Is(err, errNoRepository) {
			t.Errorf("%q at the deadline: %v, want %s %q", tc.stderr, e, tc.kind, tc.want)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%q at the deadline: the log's error does not say so: %v", tc.stderr, err)
		}
	}
}
