package pitr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"odoobot/internal/childenv"
	"odoobot/provision"
)

// Driver serves the point-in-time restore of provision.
var _ provision.PointInTime = (*Driver)(nil)

// ScratchHeadroom is the space a scratch cluster needs besides the
// database itself: the system databases and catalogs, and the WAL being
// replayed.
const ScratchHeadroom = 512 << 20

// scratchPort is the scratch cluster's port: it listens on no TCP
// address, only on a socket in its own directory, so the number is its
// socket's name and clashes with nothing.
const scratchPort = 5432

// The scratch of a restore of db: ScratchDir/<db>/ (root's, 0700) holds
// the dump; its cluster/ and sock/ are the cluster's user's.
func (d *Driver) scratch(db string) (dir, cluster, sock, dump string) {
	dir = filepath.Join(d.cfg.ScratchDir, db)
	return dir, filepath.Join(dir, "cluster"), filepath.Join(dir, "sock"), filepath.Join(dir, "database.dump")
}

// Extract restores database db as of at (see provision.PointInTime).
func (d *Driver) Extract(ctx context.Context, db string, at time.Time, dbSize uint64) (provision.Reached, error) {
	reached := provision.Reached{Target: at}
	if db == "" || strings.ContainsAny(db, "/\x00") || db == "." || db == ".." {
		return reached, fmt.Errorf("pitr: %q is not a database name", db)
	}
	if d.cfg.Login == nil {
		return reached, errors.New("pitr: no login for the database's owner")
	}
	if err := d.Clean(ctx, db); err != nil {
		return reached, err
	}
	if err := os.MkdirAll(d.cfg.ScratchDir, 0o711); err != nil {
		return reached, fmt.Errorf("pitr: scratch directory: %w", err)
	}
	if err := d.room(dbSize); err != nil {
		return reached, err
	}
	dir, cluster, sock, dump := d.scratch(db)
	uid, gid, err := d.osUser()
	if err != nil {
		return reached, err
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		return reached, fmt.Errorf("pitr: scratch directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = d.Clean(context.WithoutCancel(ctx), db)
		}
	}()
	for _, p := range []string{cluster, sock} {
		if err := errors.Join(os.Mkdir(p, 0o700), os.Chown(p, uid, gid)); err != nil {
			return reached, fmt.Errorf("pitr: scratch directory: %w", err)
		}
	}
	target := at.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
	restore := []string{"--pg1-path=" + cluster, "--type=time", "--target=" + target, "--target-action=promote", "--archive-mode=off"}
	if _, err := d.pgbackrest(ctx, "restore", append(restore, "--db-include="+db)...); err != nil {
		if !strings.Contains(err.Error(), "database to include") {
			return reached, err
		}
		// The database was made after the base backup: only the whole
		// cluster, replayed, has it.
		if err := d.wholeRoom(ctx, at); err != nil {
			return reached, err
		}
		if err := errors.Join(os.RemoveAll(cluster), os.Mkdir(cluster, 0o700), os.Chown(cluster, uid, gid)); err != nil {
			return reached, fmt.Errorf("pitr: scratch directory: %w", err)
		}
		if _, err := d.pgbackrest(ctx, "restore", restore...); err != nil {
			return reached, err
		}
	}
	if err := d.writeScratchConf(cluster, sock, uid, gid); err != nil {
		return reached, err
	}
	logFile := filepath.Join(cluster, "odoobot-scratch.log")
	_, startErr := run(d.asOS(ctx, filepath.Join(d.cfg.Bin, "pg_ctl"), "-D", cluster, "-l", logFile, "-W", "start"), "start the scratch cluster")
	defer func() {
		_, _ = run(d.asOS(context.WithoutCancel(ctx), filepath.Join(d.cfg.Bin, "pg_ctl"), "-D", cluster, "-m", "immediate", "-w", "stop"), "stop the scratch cluster")
		_ = os.RemoveAll(cluster)
		_ = os.RemoveAll(sock)
	}()
	if startErr == nil {
		startErr = d.waitPromoted(ctx, cluster, logFile)
	}
	reached.Stopped, reached.LastTransaction = readRecoveryLog(logFile)
	if startErr != nil {
		if strings.Contains(reached.Stopped, "before configured recovery target was reached") {
			return reached, fmt.Errorf("%w: the archive does not reach %s yet (its last transaction is of %s)", provision.ErrPointInTime, target, reached.LastTransaction.Format(time.RFC3339))
		}
		return reached, fmt.Errorf("%w (%s)", startErr, reached.Stopped)
	}
	login, err := d.cfg.Login(ctx, db)
	if err != nil {
		return reached, fmt.Errorf("pitr: log in to %q as its owner: %w", db, err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(d.cfg.Bin, "pg_dump"), "-h", sock, "-p", strconv.Itoa(scratchPort), "-U", login.User, "-w", "-Fc", "-f", dump, "-d", db)
	cmd.Env = childenv.Env("PGPASSWORD="+login.Password, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=odoobot", "PGOPTIONS=-c search_path=pg_catalog")
	cmd.Dir = "/"
	if _, err := run(cmd, "pg_dump the restored database as "+login.User); err != nil {
		return reached, errors.New(strings.ReplaceAll(err.Error(), login.Password, "[redacted]"))
	}
	if err := os.Chmod(dump, 0o600); err != nil {
		return reached, fmt.Errorf("pitr: %w", err)
	}
	reached.Dump = dump
	ok = true
	// The scratch cluster goes at once (the deferred stop); the dump
	// stays for the restore, which Clean ends.
	return reached, nil
}

// waitPromoted waits until the scratch cluster has replayed the WAL and
// been promoted (its log says it accepts connections; with hot_standby
// off it says so only then), or has stopped (recovery failed).
func (d *Driver) waitPromoted(ctx context.Context, cluster, logFile string) error {
	// pg_ctl -W returns before the server writes its pid file: a server
	// is taken for stopped once status has not found it 10 times in a
	// row (3 s).
	down := 0
	for {
		raw, _ := os.ReadFile(logFile)
		if strings.Contains(string(raw), "database system is ready to accept connections") {
			return nil
		}
		if err := d.asOS(ctx, filepath.Join(d.cfg.Bin, "pg_ctl"), "-D", cluster, "status").Run(); err == nil {
			down = 0
		} else if down++; down >= 10 {
			raw, _ = os.ReadFile(logFile)
			return fmt.Errorf("pitr: the scratch cluster stopped while replaying: %s", tail(strings.TrimSpace(string(raw)), 800))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// room refuses a restore when the scratch directory's file system has
// less free space than the database and ScratchHeadroom.
func (d *Driver) room(dbSize uint64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(d.cfg.ScratchDir, &st); err != nil {
		return fmt.Errorf("pitr: free space of %s: %w", d.cfg.ScratchDir, err)
	}
	free := st.Bavail * uint64(st.Bsize)
	need := 2*dbSize + ScratchHeadroom // the database restored, and its dump
	if free < need {
		return fmt.Errorf("%w: %s has %d MiB free, a restore of this %d MiB database needs %d MiB (the database, its dump and %d MiB for the system catalogs and WAL): free space there or set PITR_SCRATCH_DIR elsewhere",
			provision.ErrPointInTime, d.cfg.ScratchDir, free>>20, dbSize>>20, need>>20, ScratchHeadroom>>20)
	}
	return nil
}

// wholeRoom refuses a restore of the whole cluster from the base backup
// before at when the scratch directory lacks the room for it.
func (d *Driver) wholeRoom(ctx context.Context, at time.Time) error {
	info, err := d.Info(ctx)
	if err != nil {
		return err
	}
	var size int64
	for _, b := range info.Backups {
		if !b.Stop.After(at) {
			size = b.Size
		}
	}
	return d.room(uint64(size) / 2) // room counts a dump beside the database
}

// writeScratchConf writes the scratch cluster's own postgresql.conf and
// pg_hba.conf into its data directory (a Debian cluster keeps them in
// /etc: the restored directory has none, or the source's): no TCP, a
// socket in sock alone, no archiving, passwords required, small memory.
func (d *Driver) writeScratchConf(cluster, sock string, uid, gid int) error {
	conf := fmt.Sprintf(`# odoobot's scratch cluster for a point-in-time restore
listen_addresses = ''
port = %d
unix_socket_directories = '%s'
unix_socket_permissions = 0700
hba_file = '%s'
ident_file = '%s'
max_connections = 10
shared_buffers = 32MB
archive_mode = off
hot_standby = off
lc_messages = 'C'
log_line_prefix = ''
logging_collector = off
ssl = off
`, scratchPort, sock, filepath.Join(cluster, "pg_hba.conf"), filepath.Join(cluster, "pg_ident.conf"))
	files := map[string]string{
		"postgresql.conf": conf,
		// md5 accepts SCRAM verifiers too: the roles' passwords as of the
		// time restored.
		"pg_hba.conf":   "local all all md5\n",
		"pg_ident.conf": "",
	}
	for name, body := range files {
		p := filepath.Join(cluster, name)
		_ = os.Remove(p)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return fmt.Errorf("pitr: scratch %s: %w", name, err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("pitr: scratch %s: %w", name, err)
		}
	}
	return nil
}

// readRecoveryLog finds in the scratch cluster's log where recovery
// stopped and the time of the last transaction it replayed.
func readRecoveryLog(path string) (stopped string, last time.Time) {
	f, err := os.Open(path)
	if err != nil {
		return "", time.Time{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "recovery stopping"), strings.Contains(line, "recovery ended before configured recovery target"):
			stopped = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(line, "LOG:"), "FATAL:"))
		case strings.Contains(line, "last completed transaction was at log time "):
			_, ts, _ := strings.Cut(line, "log time ")
			for _, layout := range []string{"2006-01-02 15:04:05.999999-07", "2006-01-02 15:04:05.999999Z07"} {
				if t, err := time.Parse(layout, strings.TrimSpace(ts)); err == nil {
					last = t.UTC()
					break
				}
			}
		}
	}
	return stopped, last
}

// Clean removes what a restore of db to a time left (see
// provision.PointInTime): a scratch cluster still running is stopped
// first.
func (d *Driver) Clean(ctx context.Context, db string) error {
	if db == "" || strings.ContainsAny(db, "/\x00") || db == "." || db == ".." {
		return fmt.Errorf("pitr: %q is not a database name", db)
	}
	dir, cluster, _, _ := d.scratch(db)
	if _, err := os.Lstat(filepath.Join(cluster, "postmaster.pid")); err == nil {
		_, _ = run(d.asOS(ctx, filepath.Join(d.cfg.Bin, "pg_ctl"), "-D", cluster, "-m", "immediate", "-w", "stop"), "stop the scratch cluster")
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pitr: remove the scratch of %s: %w", db, err)
	}
	return nil
}
