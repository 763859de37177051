package backups

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"odoobot/internal/safefs"
)

// The tenant these tests play owns its filestore as this uid.
const tenantUID, tenantGID = 4242, 4242

// secret is what a root-only file holds: it must never reach an archive.
const secret = "ODOOBOT_SECRET=root-only"

// hostileTree lays out base/prod-x/data/filestore/prod-x as a tenant's
// (owned by tenantUID) with one file of its own, and base/root-only/env,
// a root-only file outside it. It returns base, the filestore and the
// root-only file.
func hostileTree(t *testing.T) (base, store, rootOnly string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it plays root working in a tenant's tree")
	}
	base = t.TempDir()
	store = filepath.Join(base, "prod-x", "data", "filestore", "prod-x")
	if err := os.MkdirAll(filepath.Join(store, "ab"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "ab", "abcdef"), []byte("attachment"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(base, "prod-x", "data"), filepath.Join(base, "prod-x", "data", "filestore"), store, filepath.Join(store, "ab"), filepath.Join(store, "ab", "abcdef")} {
		if err := os.Lchown(p, tenantUID, tenantGID); err != nil {
			t.Fatal(err)
		}
	}
	rootOnly = filepath.Join(base, "root-only", "env")
	if err := os.MkdirAll(filepath.Dir(rootOnly), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootOnly, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	return base, store, rootOnly
}

// archived reads every regular file of the tar.gz arc.
func archived(t *testing.T, arc string) map[string]string {
	t.Helper()
	f, err := os.Open(arc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = string(b)
	}
}

// noSecret fails when the archive at arc, if there is one, holds the
// root-only content, even in a part written before an error.
func noSecret(t *testing.T, arc string) {
	t.Helper()
	f, err := os.Open(arc)
	if err != nil {
		return
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return
	}
	raw, _ := io.ReadAll(gz)
	// Even a part of it: a file read past a swap is cut at the size the
	// swapped-out file had.
	if bytes.Contains(raw, []byte(secret[:7])) {
		t.Errorf("the archive holds root-only content")
	}
}

// tenantFS is the read-only view of the filestore rel beneath base that
// the tree driver hands the backup (safefs's, foreign hard links refused
// as the filestore owner's).
func tenantFS(t *testing.T, base, rel string) fs.FS {
	t.Helper()
	root, err := safefs.OpenDir(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	d, err := root.Dir(rel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st, err := d.Self()
	if err != nil {
		t.Fatal(err)
	}
	return d.FS(st.UID)
}

// TestWriteTarGzTenantTraps backs up a filestore its tenant has booby-
// trapped: no root-only content ever lands in the archive, whether the
// trap is a link inside the filestore, a hard link to a root-only file,
// or a file swapped for a link between the walk's listing and its
// opening. (A link on the way to the filestore is the tree driver's to
// refuse: provision/tree's tests.)
func TestWriteTarGzTenantTraps(t *testing.T) {
	ctx := context.Background()
	const rel = "prod-x/data/filestore/prod-x"

	t.Run("link inside", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		os.Symlink(rootOnly, filepath.Join(store, "ab", "env"))
		os.Symlink(filepath.Dir(rootOnly), filepath.Join(store, "cd"))
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		if err := WriteTarGz(ctx, tenantFS(t, base, rel), arc); err != nil {
			t.Fatal(err)
		}
		got := archived(t, arc)
		if got["ab/abcdef"] != "attachment" {
			t.Errorf("the tenant's own file is not archived: %v", got)
		}
		noSecret(t, arc)
	})

	t.Run("hard link to a root-only file", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		if err := os.Link(rootOnly, filepath.Join(store, "ab", "env")); err != nil {
			t.Fatal(err)
		}
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		err := WriteTarGz(ctx, tenantFS(t, base, rel), arc)
		if err == nil {
			t.Errorf("a hard link to a root-only file was archived")
		}
		noSecret(t, arc)
	})

	t.Run("file swapped for a link during the walk", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		swapped := false
		err := writeTarGz(ctx, tenantFS(t, base, rel), arc, func(rel string) {
			if rel == "ab/abcdef" {
				p := filepath.Join(store, "ab", "abcdef")
				os.Remove(p)
				swapped = os.Symlink(rootOnly, p) == nil
			}
		})
		if !swapped {
			t.Fatal("the hook never swapped the file")
		}
		if err != nil {
			t.Fatalf("a file swapped for a link stopped the backup: %v", err)
		}
		if got, ok := archived(t, arc)["ab/abcdef"]; ok {
			t.Errorf("the file swapped for a link was archived, holding %q", got)
		}
		noSecret(t, arc)
	})
}
