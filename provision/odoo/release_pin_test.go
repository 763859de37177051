package odoo_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/standin"
	"odoobot/provision/odoo"
)

// pinnedRepo is the stand-in repository with a second commit on its
// branch (the head) and two tags on the first: a lightweight "v1" and an
// annotated "v1-annotated". It returns the repository and the first
// commit.
func pinnedRepo(t *testing.T) (repo, first string) {
	t.Helper()
	repo = standin.Repo(t)
	first = git(t, repo, "rev-parse", "HEAD")
	git(t, repo, "tag", "v1", first)
	git(t, repo, "tag", "-a", "-m", "first", "v1-annotated", first)
	if err := os.WriteFile(filepath.Join(repo, "SECOND"), []byte("second commit\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, repo, "add", "SECOND")
	git(t, repo, "commit", "-q", "--no-gpg-sign", "-m", "second")
	return repo, first
}

// TestEnsurePinnedCommit: a pinned commit that is not the branch's head
// is the one built, by its hash or by a tag; a head-following release of
// the same cache is another release; a pin that does not exist fails
// naming it and leaves nothing in the cache.
func TestEnsurePinnedCommit(t *testing.T) {
	t.Parallel() // a venv takes seconds
	repo, first := pinnedRepo(t)
	head := git(t, repo, "rev-parse", "HEAD")
	cfg := releaseConfig(t, repo)

	cfg.Commit = first
	pinned := ensure(t, odoo.NewReleases(cfg))
	if pinned.Commit != first {
		t.Fatalf("pinned release's commit = %s, want the pinned %s", pinned.Commit, first)
	}
	if got := git(t, filepath.Join(pinned.Dir, "odoo"), "rev-parse", "HEAD"); got != first {
		t.Errorf("the release's source is at %s, want the pinned %s", got, first)
	}
	if _, err := os.Stat(filepath.Join(pinned.Dir, "odoo", "SECOND")); err == nil {
		t.Errorf("the pinned release holds SECOND, a file of the later head %s", head)
	}

	for _, tag := range []string{"v1", "v1-annotated"} {
		c := cfg
		c.Commit = tag
		r := odoo.NewReleases(c)
		rel := ensure(t, r)
		if rel.Commit != first || rel.Key != pinned.Key {
			t.Errorf("pin %s: release %s at %s, want %s at %s", tag, rel.Key, rel.Commit, pinned.Key, first)
		}
		if n := odoo.BuildCount(r); n != 0 {
			t.Errorf("pin %s: built %d times, want the release pinned by hash (same commit, same key)", tag, n)
		}
	}

	follow := cfg
	follow.Commit = ""
	headRel := ensure(t, odoo.NewReleases(follow))
	if headRel.Commit != head || headRel.Key == pinned.Key {
		t.Errorf("following the branch: release %s at %s, want the head %s under a key other than %s", headRel.Key, headRel.Commit, head, pinned.Key)
	}

	for _, bad := range []string{"v9-missing", strings.Repeat("ab", 20)} {
		c := cfg
		c.Commit = bad
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		_, err := odoo.NewReleases(c).Ensure(ctx, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "not found") {
			t.Errorf("pin %s that does not exist: err = %v, want one naming it, saying not found", bad, err)
		}
	}
	entries, err := os.ReadDir(cfg.CacheDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() && e.Name() != pinned.Key && e.Name() != headRel.Key {
			t.Errorf("the cache holds %s after failed pins; want only %s and %s", e.Name(), pinned.Key, headRel.Key)
		}
	}
}
