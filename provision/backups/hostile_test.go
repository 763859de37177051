package backups

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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

// TestWriteTarGzTenantTraps backs up a filestore its tenant has booby-
// trapped: no root-only content ever lands in the archive, whether the
// trap is a link inside the filestore, a link on the way to it, a hard
// link to a root-only file, or a file swapped for a link between the
// walk's listing and its opening.
func TestWriteTarGzTenantTraps(t *testing.T) {
	ctx := context.Background()
	const rel = "prod-x/data/filestore/prod-x"

	t.Run("link inside", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		os.Symlink(rootOnly, filepath.Join(store, "ab", "env"))
		os.Symlink(filepath.Dir(rootOnly), filepath.Join(store, "cd"))
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		if err := WriteTarGz(ctx, base, rel, arc); err != nil {
			t.Fatal(err)
		}
		got := archived(t, arc)
		if got["ab/abcdef"] != "attachment" {
			t.Errorf("the tenant's own file is not archived: %v", got)
		}
		noSecret(t, arc)
	})

	t.Run("data swapped for a link", func(t *testing.T) {
		base, _, rootOnly := hostileTree(t)
		// The tenant owns data/: it puts a link there to a tree laid out
		// like its own, which holds the root-only file.
		decoy := filepath.Join(base, "decoy")
		os.MkdirAll(filepath.Join(decoy, "filestore", "prod-x"), 0o700)
		os.Link(rootOnly, filepath.Join(decoy, "filestore", "prod-x", "env"))
		data := filepath.Join(base, "prod-x", "data")
		os.RemoveAll(data)
		if err := os.Symlink(decoy, data); err != nil {
			t.Fatal(err)
		}
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		err := WriteTarGz(ctx, base, rel, arc)
		if err == nil {
			t.Errorf("a filestore reached through a link was archived")
		}
		noSecret(t, arc)
	})

	t.Run("hard link to a root-only file", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		if err := os.Link(rootOnly, filepath.Join(store, "ab", "env")); err != nil {
			t.Fatal(err)
		}
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		err := WriteTarGz(ctx, base, rel, arc)
		if err == nil {
			t.Errorf("a hard link to a root-only file was archived")
		}
		noSecret(t, arc)
	})

	t.Run("file swapped for a link during the walk", func(t *testing.T) {
		base, store, rootOnly := hostileTree(t)
		arc := filepath.Join(t.TempDir(), "fs.tar.gz")
		swapped := false
		err := writeTarGz(ctx, base, rel, arc, func(rel string) {
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

// tarGz writes a tar.gz of hdrs (regular files get body) and returns its
// path.
func tarGz(t *testing.T, hdrs ...*tar.Header) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range hdrs {
		body := []byte("planted")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(body)
		}
	}
	tw.Close()
	gz.Close()
	p := filepath.Join(t.TempDir(), "fs.tar.gz")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// canary is a root-owned directory standing for /etc: nothing may be
// written or chowned in it. It returns a check that fails the test when
// it changed.
func canary(t *testing.T) (string, func()) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "etc")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "passwd"), []byte("root:x:0:0"), 0o644)
	return dir, func() {
		t.Helper()
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "passwd" {
			t.Errorf("the canary directory was written: %v", entries)
		}
		for _, p := range []string{dir, filepath.Join(dir, "passwd")} {
			var st = statOwner(t, p)
			if st != 0 {
				t.Errorf("%s was given to uid %d", p, st)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "passwd")); string(b) != "root:x:0:0" {
			t.Errorf("the canary file was changed: %q", b)
		}
	}
}

// TestExtractTarGzTenantTraps restores a tenant-made archive where the
// tenant can reach: a link planted at the destination, or entries that
// are absolute, climb out, or are links, devices or repeated names; root
// writes and chowns nothing outside the destination.
func TestExtractTarGzTenantTraps(t *testing.T) {
	ctx := context.Background()
	if os.Geteuid() != 0 {
		t.Skip("needs root: it plays root working in a tenant's tree")
	}
	good := tarGz(t, &tar.Header{Typeflag: tar.TypeDir, Name: "ld.so.preload.d/"}, &tar.Header{Typeflag: tar.TypeReg, Name: "ld.so.preload"})

	t.Run("link planted at the destination", func(t *testing.T) {
		etc, check := canary(t)
		dst := filepath.Join(t.TempDir(), ".prod-x.restore")
		if err := os.Symlink(etc, dst); err != nil {
			t.Fatal(err)
		}
		if err := ExtractTarGz(ctx, good, dst, tenantUID, tenantGID); err == nil {
			t.Errorf("extracted through a link planted at the destination")
		}
		check()
	})

	t.Run("directory planted at the destination", func(t *testing.T) {
		etc, check := canary(t)
		dst := filepath.Join(t.TempDir(), ".prod-x.restore")
		os.Mkdir(dst, 0o777)
		os.Symlink(etc, filepath.Join(dst, "ld.so.preload.d"))
		if err := ExtractTarGz(ctx, good, dst, tenantUID, tenantGID); err == nil {
			t.Errorf("extracted into a destination that already existed")
		}
		check()
	})

	for name, hdrs := range map[string][]*tar.Header{
		"absolute":       {{Typeflag: tar.TypeReg, Name: "/ETC/ld.so.preload"}},
		"climbing":       {{Typeflag: tar.TypeReg, Name: "ab/../../etc/ld.so.preload"}},
		"symlink":        {{Typeflag: tar.TypeSymlink, Name: "ab", Linkname: "ETC"}, {Typeflag: tar.TypeReg, Name: "ab/ld.so.preload"}},
		"hard link":      {{Typeflag: tar.TypeLink, Name: "passwd", Linkname: "ETC/passwd"}},
		"device":         {{Typeflag: tar.TypeChar, Name: "mem", Devmajor: 1, Devminor: 1}},
		"repeated names": {{Typeflag: tar.TypeReg, Name: "a"}, {Typeflag: tar.TypeReg, Name: "a"}},
	} {
		t.Run(name, func(t *testing.T) {
			etc, check := canary(t)
			for _, h := range hdrs {
				h.Name = strings.ReplaceAll(h.Name, "ETC", etc)
				h.Linkname = strings.ReplaceAll(h.Linkname, "ETC", etc)
			}
			dst := filepath.Join(filepath.Dir(etc), "restore")
			if err := ExtractTarGz(ctx, tarGz(t, hdrs...), dst, tenantUID, tenantGID); err == nil {
				t.Errorf("extracted an archive with a %s entry", name)
			}
			check()
		})
	}

	t.Run("owned by the tenant", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "restore")
		if err := ExtractTarGz(ctx, good, dst, tenantUID, tenantGID); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{dst, filepath.Join(dst, "ld.so.preload.d"), filepath.Join(dst, "ld.so.preload")} {
			if uid := statOwner(t, p); uid != tenantUID {
				t.Errorf("%s is uid %d's, not the tenant's", p, uid)
			}
		}
	})
}

// statOwner is the uid owning p (a link: the link itself).
func statOwner(t *testing.T, p string) int {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
