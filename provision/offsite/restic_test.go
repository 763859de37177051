package offsite

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision"
)

// Check tells an empty location, a wrong password and an unreadable
// password file apart, each naming the setting to fix; Init creates a
// repository once and leaves it alone after.
func TestCheckAndInit(t *testing.T) {
	t.Parallel()
	needRestic(t)
	ctx := ctxT(t)
	r := &Restic{Repository: filepath.Join(t.TempDir(), "repo"), PasswordFile: passwordFile(t, testPassword)}

	err := r.Check(ctx)
	wantKind(t, err, provision.KindRefused, "no restic repository at OFFSITE_REPOSITORY", "odoobot setup")
	if !errors.Is(err, errNoRepository) {
		t.Errorf("Check's error on an empty location is not errNoRepository: %v", err)
	}

	created, err := r.Init(ctx)
	if err != nil || !created {
		t.Fatalf("Init on an empty location: created %v, %v", created, err)
	}
	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check after Init: %v", err)
	}
	config, err := os.ReadFile(filepath.Join(r.Repository, "config"))
	if err != nil {
		t.Fatal(err)
	}
	created, err = r.Init(ctx)
	if err != nil || created {
		t.Fatalf("Init on a repository: created %v, %v", created, err)
	}
	if again, _ := os.ReadFile(filepath.Join(r.Repository, "config")); !bytes.Equal(again, config) {
		t.Error("a second Init changed the repository's config")
	}

	wrong := *r
	wrong.PasswordFile = passwordFile(t, "not-the-password")
	wantKind(t, wrong.Check(ctx), provision.KindRefused, "OFFSITE_PASSWORD_FILE does not open the repository at OFFSITE_REPOSITORY")
	// Init with the wrong password creates nothing, and says why.
	if created, err := wrong.Init(ctx); created || !provision.IsKind(err, provision.KindRefused) {
		t.Errorf("Init with a wrong password: created %v, %v", created, err)
	}

	missing := *r
	missing.PasswordFile = filepath.Join(t.TempDir(), "no-such-file")
	wantKind(t, missing.Check(ctx), provision.KindRefused, "OFFSITE_PASSWORD_FILE cannot be read")
	empty := *r
	empty.PasswordFile = passwordFile(t, "")
	wantKind(t, empty.Check(ctx), provision.KindRefused, "OFFSITE_PASSWORD_FILE cannot be read")

	bad := *r
	bad.Repository = "nosuchbackend:somewhere"
	wantKind(t, bad.Check(ctx), provision.KindRefused, "OFFSITE_REPOSITORY is not a location restic knows")
	unset := *r
	unset.Repository = ""
	wantKind(t, unset.Check(ctx), provision.KindRefused, "set OFFSITE_REPOSITORY")
}

// A storage that answers 503, or no longer listens, is unavailable, not
// a missing repository: restic says "Is there a repository at the
// following location?" then too.
func TestCheckUnreachable(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	r, srv := s3Repo(t)
	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check on the S3 double: %v", err)
	}
	srv.SetDown(true)
	err := r.Check(ctx)
	wantKind(t, err, provision.KindUnavailable, "cannot be reached")
	if errors.Is(err, errNoRepository) {
		t.Error("an unreachable repository is taken for a missing one: Init would try to create it")
	}
	if created, err := r.Init(ctx); created || !provision.IsKind(err, provision.KindUnavailable) {
		t.Errorf("Init on a storage that is down: created %v, %v", created, err)
	}
	srv.SetDown(false)
	if err := r.Check(ctx); err != nil {
		t.Fatalf("Check once the double is back: %v", err)
	}
	srv.Close()
	wantKind(t, r.Check(ctx), provision.KindUnavailable, "cannot be reached")
}

func TestRoundTripPath(t *testing.T) {
	t.Parallel()
	r := pathRepo(t)
	c := roundTrip(t, r)

	// The layout, as restic itself shows it: the backup's files at the
	// snapshot's top level, the verification stamp not among them.
	out, err := resticCmd(t, r, "ls", "--json", c.Snapshot)
	if err != nil {
		t.Fatalf("restic ls: %v\n%s", err, out)
	}
	var paths []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var node struct {
			Type string `json:"struct_type"`
			Path string `json:"path"`
		}
		if json.Unmarshal([]byte(line), &node) == nil && node.Type == "node" {
			paths = append(paths, node.Path)
		}
	}
	want := []string{"/database.dump", "/filestore.tar.gz", "/manifest.json", "/odoo.conf"}
	if diff := cmp.Diff(paths, want); diff != "" {
		t.Errorf("the copy's files (-got +want):\n%s", diff)
	}
}

func TestRoundTripS3(t *testing.T) {
	t.Parallel()
	r, _ := s3Repo(t)
	roundTrip(t, r)
}

// roundTrip pushes a backup, lists it and fetches each of its files
// back, and checks what Fetch refuses.
func roundTrip(t *testing.T, r *Restic) provision.OffsiteCopy {
	t.Helper()
	ctx := ctxT(t)
	b := testBackup(t, "acme", "20260105T031500Z", 256<<10)
	before := sums(t, b.Dir)

	c, err := r.Push(ctx, b)
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	want := provision.OffsiteCopy{Snapshot: c.Snapshot, Instance: "acme", Backup: "20260105T031500Z", Reason: provision.ReasonManual,
		CreatedAt: time.Date(2026, 1, 5, 3, 15, 0, 0, time.UTC), Host: "srv-test"}
	if diff := cmp.Diff(c, want); diff != "" {
		t.Errorf("the pushed copy (-got +want):\n%s", diff)
	}
	if len(c.Snapshot) != 64 || checkSnapshot(c.Snapshot) != nil {
		t.Errorf("the copy's id %q is not a full snapshot id", c.Snapshot)
	}
	if diff := cmp.Diff(sums(t, b.Dir), before); diff != "" {
		t.Errorf("Push changed the backup (-got +want):\n%s", diff)
	}

	got, err := r.List(ctx, "acme")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if diff := cmp.Diff(got, []provision.OffsiteCopy{want}); diff != "" {
		t.Errorf("List(acme) (-got +want):\n%s", diff)
	}
	if other, err := r.List(ctx, "other"); err != nil || len(other) != 0 {
		t.Errorf("List(other) = %v, %v; want none", other, err)
	}

	out := t.TempDir()
	for _, name := range []string{provision.ManifestName, provision.DumpName, provision.FilestoreName, provision.ConfName} {
		p := filepath.Join(out, name)
		if err := r.Fetch(ctx, c, name, p, 1<<20); err != nil {
			t.Fatalf("Fetch %s: %v", name, err)
		}
		fetched, _ := os.ReadFile(p)
		orig, _ := os.ReadFile(filepath.Join(b.Dir, name))
		if !bytes.Equal(fetched, orig) {
			t.Errorf("Fetch %s: %d bytes differ from the backup's %d", name, len(fetched), len(orig))
		}
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("Fetch %s: mode %v, %v; want 0600", name, st.Mode(), err)
		}
	}

	// The verification stamp did not travel.
	p := filepath.Join(out, "verification.json")
	wantKind(t, r.Fetch(ctx, c, "verification.json", p, 1<<20), provision.KindBroken, "holds no file verification.json")
	noFile(t, p)

	// Past the limit: stopped, and nothing left.
	p = filepath.Join(out, "dump-too-big")
	wantKind(t, r.Fetch(ctx, c, provision.DumpName, p, 100<<10), provision.KindBroken, "larger than")
	noFile(t, p)

	// Never over something that is there, nor through a link.
	existing := filepath.Join(out, provision.DumpName)
	orig, _ := os.ReadFile(existing)
	wantKind(t, r.Fetch(ctx, c, provision.ConfName, existing, 1<<20), provision.KindRefused, "already there")
	if now, _ := os.ReadFile(existing); !bytes.Equal(now, orig) {
		t.Error("Fetch to an existing file changed it")
	}
	target := filepath.Join(out, "target")
	if err := os.WriteFile(target, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{target, filepath.Join(out, "nowhere")} {
		link := filepath.Join(out, "link-to-"+filepath.Base(to))
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
		wantKind(t, r.Fetch(ctx, c, provision.ConfName, link, 1<<20), provision.KindRefused, "already there")
		if dst, err := os.Readlink(link); err != nil || dst != to {
			t.Errorf("the link was replaced: %q, %v", dst, err)
		}
	}
	if kept, _ := os.ReadFile(target); string(kept) != "kept" {
		t.Errorf("Fetch wrote through a link: the target holds %q", kept)
	}
	noFile(t, filepath.Join(out, "nowhere"))
	return c
}

func noFile(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s is there after a failed Fetch (%v)", p, err)
	}
}

// Forget removes the copies it is given, and only those.
func TestForget(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	r := pathRepo(t)
	var pushed []provision.OffsiteCopy
	for _, b := range []provision.BackupInfo{
		testBackup(t, "acme", "20260101T030000Z", 4<<10),
		testBackup(t, "acme", "20260102T030000Z", 4<<10),
		testBackup(t, "other", "20260102T030000Z-2", 4<<10),
	} {
		c, err := r.Push(ctx, b)
		if err != nil {
			t.Fatalf("Push %s/%s: %v", b.Database, b.ID, err)
		}
		pushed = append(pushed, c)
	}
	all, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	// Newest first, then by backup id (the second of a second is newer).
	if diff := cmp.Diff(all, []provision.OffsiteCopy{pushed[2], pushed[1], pushed[0]}); diff != "" {
		t.Errorf("List() (-got +want):\n%s", diff)
	}

	if err := r.Forget(ctx, []string{pushed[1].Snapshot}); err != nil {
		t.Fatalf("Forget: %v", err)
	}
	left, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(left, []provision.OffsiteCopy{pushed[2], pushed[0]}); diff != "" {
		t.Errorf("List after Forget (-got +want):\n%s", diff)
	}
	// What is left is whole: the prune kept the data it uses.
	if out, err := resticCmd(t, r, "check", "--read-data"); err != nil {
		t.Errorf("restic check after Forget: %v\n%s", err, out)
	}
}
