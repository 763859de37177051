package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/internal/pgdb"
	"odoobot/internal/testenv"
)

// copyFacts is what a copy of a database must hold the same as its
// source: row counts, the checksum of every row's bytea, the sequences'
// positions, a large object's bytes.
type copyFacts struct {
	Rows, Docs        int64
	RowsSum, DocsSum  string
	Seq, DocSeq       int64
	LargeObject       string
	LargeObjectLength int
}

// seedCopySource fills database db as a tenant's would be: two tables
// with serial ids (one of them a few MB of bytea), a sequence moved on
// past its rows, an index, and a large object.
func seedCopySource(t *testing.T, ctx context.Context, admin, db string) {
	t.Helper()
	conn := connectTo(t, ctx, admin, db)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
CREATE TABLE partner (id serial PRIMARY KEY, name text NOT NULL, note text);
INSERT INTO partner (name, note) SELECT 'partner ' || g, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
CREATE INDEX partner_name ON partner (name);
CREATE TABLE attachment (id bigserial PRIMARY KEY, partner_id int REFERENCES partner, datas bytea);
INSERT INTO attachment (partner_id, datas) SELECT g, decode(repeat(md5(g::text), 256), 'hex') FROM generate_series(1, 2000) g;
SELECT setval('partner_id_seq', 31337);
SELECT lo_from_bytea(0, decode(repeat('00ff10ab', 50000), 'hex'));
`); err != nil {
		t.Fatalf("seed %q: %v", db, err)
	}
}

// readCopyFacts reads copyFacts from database db.
func readCopyFacts(t *testing.T, ctx context.Context, admin, db string) copyFacts {
	t.Helper()
	conn := connectTo(t, ctx, admin, db)
	defer conn.Close(ctx)
	var f copyFacts
	if err := conn.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM partner), (SELECT count(*) FROM attachment),
  (SELECT md5(string_agg(id || name || note, ',' ORDER BY id)) FROM partner),
  (SELECT md5(string_agg(md5(datas), ',' ORDER BY id)) FROM attachment),
  (SELECT last_value FROM partner_id_seq), (SELECT last_value FROM attachment_id_seq),
  (SELECT md5(lo_get(oid)) FROM pg_largeobject_metadata LIMIT 1),
  (SELECT length(lo_get(oid)) FROM pg_largeobject_metadata LIMIT 1)`).Scan(
		&f.Rows, &f.Docs, &f.RowsSum, &f.DocsSum, &f.Seq, &f.DocSeq, &f.LargeObject, &f.LargeObjectLength); err != nil {
		t.Fatalf("read %q: %v", db, err)
	}
	return f
}

// TestParallelCopyHoldsWhatSerialDoes: a copy made the parallel way
// (DumpCopy's directory by 4 pg_dump workers, pg_restore -j 4) holds
// the same rows, bytea, sequences and large object as the source and as
// a copy made the serial way (one custom-format file, one pg_restore),
// and a backup's custom-format file restored by 4 workers does too. The
// parallel dump is a directory; the serial one a file.
func TestParallelCopyHoldsWhatSerialDoes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, admin := testPG(t)
	if _, err := pg.path("pg_restore"); err != nil {
		testenv.Missing(t, err.Error())
	}
	src := newCopySource(t, ctx, pg, "copy_src_", "_serial", "_parallel", "_backup")
	serial, parallel, backup := src+"_serial", src+"_parallel", src+"_backup"
	seedCopySource(t, ctx, admin, src)
	want := readCopyFacts(t, ctx, admin, src)
	if want.Rows != 20000 || want.Docs != 2000 || want.Seq != 31337 || want.LargeObjectLength != 200000 {
		t.Fatalf("the source was not seeded as meant: %+v", want)
	}

	dir := t.TempDir()
	one, four := pg, pg
	one.Jobs, four.Jobs = 1, 4
	for _, c := range []struct {
		what    string
		by      Admin
		db      string
		dump    func(path string) error
		wantDir bool
	}{
		{"serial copy", one, serial, func(path string) error { return one.DumpCopy(ctx, src, path) }, false},
		{"parallel copy", four, parallel, func(path string) error { return four.DumpCopy(ctx, src, path) }, true},
		{"backup restored by 4 workers", four, backup, func(path string) error { return four.Dump(ctx, src, path) }, false},
	} {
		path := filepath.Join(dir, c.db+".dump")
		if err := c.dump(path); err != nil {
			t.Fatalf("%s: dump: %v", c.what, err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if st.IsDir() != c.wantDir {
			t.Errorf("%s: the dump is a directory: %v, want %v", c.what, st.IsDir(), c.wantDir)
		}
		if c.wantDir {
			if _, err := os.Stat(filepath.Join(path, "toc.dat")); err != nil {
				t.Errorf("%s: not a directory-format dump: %v", c.what, err)
			}
		}
		if err := c.by.Restore(ctx, c.db, "", path); err != nil {
			t.Fatalf("%s: Restore: %v", c.what, err)
		}
		if got := readCopyFacts(t, ctx, admin, c.db); got != want {
			t.Errorf("%s holds %+v, want the source's %+v", c.what, got, want)
		}
	}
}

// TestParallelRestoreFailureLeavesNothing: a parallel restore whose
// dump is damaged (a table's data file garbage) fails naming
// pg_restore, and the database it was making is gone; a parallel dump
// of a database that does not exist fails and leaves no directory.
func TestParallelRestoreFailureLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, admin := testPG(t)
	if _, err := pg.path("pg_restore"); err != nil {
		testenv.Missing(t, err.Error())
	}
	pg.Jobs = 4
	src := newCopySource(t, ctx, pg, "copy_bad_", "_copy")
	dst := src + "_copy"
	seedCopySource(t, ctx, admin, src)

	missing := filepath.Join(t.TempDir(), "missing.dump")
	if err := pg.DumpCopy(ctx, src+"_nosuch", missing); err == nil {
		t.Error("DumpCopy of a missing database: no error")
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Errorf("a failed DumpCopy left %s (%v)", missing, err)
	}

	path := filepath.Join(t.TempDir(), "database.dump")
	if err := pg.DumpCopy(ctx, src, path); err != nil {
		t.Fatal(err)
	}
	data, _ := filepath.Glob(filepath.Join(path, "*.dat*"))
	if len(data) == 0 {
		t.Fatalf("no data files in %s", path)
	}
	for _, f := range data {
		if err := os.WriteFile(f, []byte("not a table's data\n\x00\xff garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err := pg.Restore(ctx, dst, "", path)
	if err == nil {
		t.Fatal("Restore of a damaged dump: no error")
	}
	if !strings.Contains(err.Error(), "pg_restore") {
		t.Errorf("the error does not name pg_restore: %v", err)
	}
	if ok, err := pg.Exists(ctx, dst); err != nil || ok {
		t.Errorf("after the failed restore, database %q exists: %v (%v); want it dropped", dst, ok, err)
	}
}

// TestParallelDumpWaitsForALockedTable: a session asks for an
// exclusive lock on a table (Odoo altering it) while a parallel dump
// runs, after the dump's leader locked it and before a worker reached
// it; the worker's lock is refused (pg_dump -j locks NOWAIT) and the
// dump is made again the serial way, which waits for the lock: the
// copy succeeds, holding every row of its snapshot.
func TestParallelDumpWaitsForALockedTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, admin := testPG(t)
	if _, err := pg.path("pg_dump"); err != nil {
		testenv.Missing(t, err.Error())
	}
	pg.Jobs = 2
	src := newCopySource(t, ctx, pg, "copy_lock_", "_copy")
	dst := src + "_copy"
	conn := connectTo(t, ctx, admin, src)
	defer conn.Close(ctx)
	// pg_dump -j dumps the largest tables first: the small table "hot"
	// comes last, after some seconds of work on the big ones.
	if _, err := conn.Exec(ctx, `
DO $$ BEGIN FOR i IN 1..12 LOOP
  EXECUTE format('CREATE TABLE big%s AS SELECT g AS id, repeat(md5(g::text), 8) AS body FROM generate_series(1, 60000) g', i);
END LOOP; END $$;
CREATE TABLE hot (id int); INSERT INTO hot SELECT generate_series(1, 7);`); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "database.dump")
	done := make(chan error, 1)
	go func() { done <- pg.DumpCopy(ctx, src, path) }()
	for {
		var held bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
  WHERE l.relation = 'hot'::regclass AND l.granted AND a.application_name = 'odoobot')`).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if held {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the dump ended (%v) before it was seen locking table hot", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Odoo's ALTER TABLE: an exclusive lock, held a moment.
	if _, err := conn.Exec(ctx, "BEGIN; LOCK TABLE hot IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := conn.Exec(ctx, "INSERT INTO hot VALUES (8); COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("DumpCopy: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		t.Errorf("the dump is not the serial way's file (%v): the worker was not refused, the test proves nothing", err)
	}
	if err := pg.Restore(ctx, dst, "", path); err != nil {
		t.Fatal(err)
	}
	c := connectTo(t, ctx, admin, dst)
	defer c.Close(ctx)
	var n, big int
	if err := c.QueryRow(ctx, "SELECT (SELECT count(*) FROM hot), (SELECT count(*) FROM big12)").Scan(&n, &big); err != nil {
		t.Fatal(err)
	}
	// The serial dump's snapshot is taken before it waits for the lock:
	// the row added under the lock may be after it.
	if (n != 7 && n != 8) || big != 60000 {
		t.Errorf("the copy holds %d rows of hot and %d of big12, want 7 or 8 and 60000", n, big)
	}
}

// newCopySource creates an empty database named prefix and a random
// suffix, and has it and its copies (its name followed by each of
// copies) dropped when the test ends.
func newCopySource(t *testing.T, ctx context.Context, pg Admin, prefix string, copies ...string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	src := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, db := range append([]string{""}, copies...) {
			if err := pg.Drop(context.Background(), src+db); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	if _, err := pg.SQL(ctx, "CREATE DATABASE "+pgdb.Ident(src)); err != nil {
		t.Fatal(err)
	}
	return src
}
