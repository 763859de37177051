// Package offsite keeps encrypted copies of odoobot's backups away from
// the server, in a restic repository (provision.Offsite): each backup is
// one snapshot holding its manifest and the files the manifest lists at
// its top level (/manifest.json, /database.dump, …), tagged with the
// backup's instance, id and reason, at the backup's time.
//
// restic (Debian's, 0.14) is run as a child: with the minimal
// environment of every child plus the repository's settings, which
// reach it only through its environment (the repository's location may
// hold credentials; it never appears on a command line nor in an
// error's text), in a process group of its own killed whole when the
// context ends, its output bounded. Its failures are handed up as
// provision.Error, by what it wrote: a wrong password or no repository
// is refused, an unreachable storage is unavailable, a full one is
// broken.
package offsite

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"odoobot/provision"
)

// Restic is the offsite repository, reached with the restic program.
// Its fields are its configuration, set before the first call and not
// changed after; its methods may be called concurrently (restic locks
// the repository itself).
type Restic struct {
	// Repository is the restic repository (OFFSITE_REPOSITORY), in any
	// form restic takes: a path, s3:https://HOST/BUCKET,
	// sftp:USER@HOST:PATH, rest:https://USER:PASSWORD@HOST/. It is
	// given to restic as RESTIC_REPOSITORY only, and replaced by the
	// setting's name in every error.
	Repository string
	// PasswordFile is the file holding the repository's password
	// (OFFSITE_PASSWORD_FILE), given to restic as RESTIC_PASSWORD_FILE.
	// odoobot never reads it.
	PasswordFile string
	// Env are the storage's variables ("KEY=value": AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY, …), added to restic's environment only.
	// They cannot set the repository or the password.
	Env []string
	// Host is the server's id, recorded as each copy's host (restic's
	// --host); "" records the machine's hostname.
	Host string
	// CacheDir is restic's cache directory; "" runs restic without a
	// cache (each call reads the repository's index anew).
	CacheDir string
	// Binary is the restic program; "" is "restic", looked for in the
	// children's PATH (internal/childenv), never odoobot's.
	Binary string
}

var _ provision.Offsite = (*Restic)(nil)

// The tags of an odoobot copy: odoobot, then one key=value each.
const (
	tagOdoobot  = "odoobot"
	tagInstance = "instance="
	tagBackup   = "backup="
	tagReason   = "reason="
)

// timeLayout is the layout of restic's --time: seconds, in restic's
// time zone (TZ=UTC).
const timeLayout = "2006-01-02 15:04:05"

// settings refuses a configuration restic cannot work with, before it
// runs.
func (r *Restic) settings() error {
	if r.Repository == "" {
		return refused("the offsite repository is not set", "set "+repoSetting+" (a path, s3:https://HOST/BUCKET, …)")
	}
	if r.PasswordFile == "" {
		return refused("the offsite repository's password file is not set", "set "+passwordSetting+" to a file holding the repository's password")
	}
	for _, kv := range r.Env {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			return refused("an offsite storage variable is not KEY=value", "give each storage variable as KEY=value")
		}
		if strings.HasPrefix(key, "RESTIC_REPOSITORY") || strings.HasPrefix(key, "RESTIC_PASSWORD") {
			return refused("the offsite storage variables set "+key, "set the repository with "+repoSetting+" and its password with "+passwordSetting+", not with "+key)
		}
	}
	return nil
}

// Check opens the repository and reads its configuration, which needs
// its password: nil when odoobot can use it. Its error says why not: no
// repository there (refused, and errors.Is it errNoRepository), a wrong
// password or an unreadable password file (refused), a storage that
// cannot be reached (unavailable); each names the setting to fix.
func (r *Restic) Check(ctx context.Context) error {
	if err := r.settings(); err != nil {
		return err
	}
	out := &capBuffer{max: jsonMax}
	res, err := r.runRestic(ctx, run{args: []string{"cat", "config", "--no-lock", "-q"}, stdout: out})
	if err != nil {
		return classify(ctx, "open the repository", res, err)
	}
	return nil
}

// Init makes the repository usable: it creates it (restic init) when
// Check finds none at the location, and leaves one that is there alone.
// created says whether it made one. Any other failure of Check (a wrong
// password, an unreachable storage) is returned and nothing is created.
func (r *Restic) Init(ctx context.Context) (created bool, err error) {
	err = r.Check(ctx)
	if err == nil || !errors.Is(err, errNoRepository) {
		return false, err
	}
	res, err := r.runRestic(ctx, run{args: []string{"init", "-q"}})
	if err != nil {
		if strings.Contains(res.stderr, "config file already exists") {
			// Made meanwhile by another run: use it if it opens.
			return false, r.Check(ctx)
		}
		return false, classify(ctx, "create the repository", res, err)
	}
	return true, nil
}

// Push copies backup b to the repository as one snapshot: its
// manifest (provision.ManifestName) and each file its manifest lists,
// read from b.Dir, stored at the snapshot's top level; nothing else in
// b.Dir goes (not its verification stamp). The snapshot is tagged
// odoobot, instance=<b.Database>, backup=<b.ID>, reason=<b.Reason>,
// with b.CreatedAt (to the second) as its time and Host as its host.
// A name that is not a plain file name, a file that is missing or not
// a regular file, a tag value with a comma or a space: refused before
// restic runs. restic writes the snapshot last, so a push that fails or
// is killed leaves no copy (the data it sent is reused by the next; a
// killed run's lock stays until Forget removes it). A snapshot restic
// makes without every file (it skips what it cannot read) is forgotten
// again and the push fails.
func (r *Restic) Push(ctx context.Context, b provision.BackupInfo) (provision.OffsiteCopy, error) {
	if err := r.settings(); err != nil {
		return provision.OffsiteCopy{}, err
	}
	names, err := pushNames(b)
	if err != nil {
		return provision.OffsiteCopy{}, err
	}
	args := []string{"backup", "--json", "-q",
		"--tag", tagOdoobot, "--tag", tagInstance + b.Database, "--tag", tagBackup + b.ID, "--tag", tagReason + b.Reason,
		"--time", b.CreatedAt.UTC().Format(timeLayout)}
	if r.Host != "" {
		args = append(args, "--host", r.Host)
	}
	args = append(append(args, "--"), names...)
	out := &capBuffer{max: jsonMax}
	res, runErr := r.runRestic(ctx, run{args: args, dir: b.Dir, stdout: out})
	sum, sumErr := summary(out.Bytes())
	if runErr != nil {
		if res.exit == 3 && sum.SnapshotID != "" {
			// restic 0.14: "snapshot created, but some files could not be read".
			return provision.OffsiteCopy{}, r.unmake(ctx, sum.SnapshotID, broken("a file of the backup could not be read", fmt.Errorf("%w: %s", runErr, lastLines(res.stderr, 5, 1000))))
		}
		return provision.OffsiteCopy{}, classify(ctx, "push the backup", res, runErr)
	}
	if sumErr != nil {
		return provision.OffsiteCopy{}, broken("restic's answer to a push could not be read", sumErr)
	}
	if sum.Files != len(names) {
		// restic 0.14 skips a file that is gone, and exits 0.
		return provision.OffsiteCopy{}, r.unmake(ctx, sum.SnapshotID, broken("the offsite copy lacks a file of the backup",
			fmt.Errorf("restic stored %d files of %d", sum.Files, len(names))))
	}
	// The summary gives the short id: the snapshot itself has the full one.
	copies, err := r.snapshots(ctx, sum.SnapshotID)
	if err != nil {
		return provision.OffsiteCopy{}, err
	}
	if len(copies) != 1 {
		return provision.OffsiteCopy{}, broken("the new offsite copy could not be found", fmt.Errorf("snapshot %s: %d odoobot snapshots match", sum.SnapshotID, len(copies)))
	}
	return copies[0], nil
}

// pushNames are the files of b that travel, manifest first, each
// checked: a plain name, a regular file in b.Dir (not a link). b's tag
// values are checked too.
func pushNames(b provision.BackupInfo) ([]string, error) {
	if !filepath.IsAbs(b.Dir) {
		return nil, refused(fmt.Sprintf("the backup's directory %q is not an absolute path", b.Dir), "push a backup as the backups store lists it")
	}
	for _, t := range [][2]string{{"instance", b.Database}, {"id", b.ID}, {"reason", b.Reason}} {
		if err := checkTag(t[0], t[1]); err != nil {
			return nil, err
		}
	}
	if b.CreatedAt.IsZero() {
		return nil, refused("the backup has no time", "push a backup as the backups store lists it")
	}
	names := []string{provision.ManifestName}
	for _, f := range b.Files {
		if err := checkName(f.Name); err != nil {
			return nil, err
		}
		if !slices.Contains(names, f.Name) {
			names = append(names, f.Name)
		}
	}
	for _, n := range names {
		st, err := os.Lstat(filepath.Join(b.Dir, n))
		if err != nil || !st.Mode().IsRegular() {
			return nil, refused(fmt.Sprintf("backup %s of %s has no file %s", b.ID, b.Database, n), "check the backup (backups NAME): it is incomplete")
		}
	}
	return names, nil
}

// backupSummary is what odoobot reads of restic backup's JSON summary.
type backupSummary struct {
	Type       string `json:"message_type"`
	SnapshotID string `json:"snapshot_id"`
	Files      int    `json:"total_files_processed"`
}

// summary finds the summary line in restic backup --json's output.
func summary(out []byte) (backupSummary, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s backupSummary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Type == "summary" {
			if checkSnapshot(s.SnapshotID) != nil {
				return backupSummary{}, fmt.Errorf("summary: snapshot id %q", s.SnapshotID)
			}
			return s, nil
		}
	}
	return backupSummary{}, errors.New("no summary in restic's output")
}

// unmake forgets snapshot id, which a push made but must not leave, and
// returns cause, joined with the forget's failure if it failed. It runs
// even when ctx has ended, for a minute at most.
func (r *Restic) unmake(ctx context.Context, id string, cause error) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := r.Forget(fctx, []string{id}); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// List returns odoobot's copies of the instance whose database is
// internal ("" for every instance's), newest first (by time, then
// backup id). A snapshot whose tags are not an odoobot copy's is left
// out.
func (r *Restic) List(ctx context.Context, internal string) ([]provision.OffsiteCopy, error) {
	if err := r.settings(); err != nil {
		return nil, err
	}
	filter := tagOdoobot
	if internal != "" {
		if err := checkTag("instance", internal); err != nil {
			return nil, err
		}
		filter += "," + tagInstance + internal
	}
	return r.snapshots(ctx, "", "--tag", filter)
}

// snapshotJSON is what odoobot reads of restic snapshots --json.
type snapshotJSON struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags"`
}

// snapshots lists the odoobot copies restic snapshots shows (id: that
// one only), sorted newest first.
func (r *Restic) snapshots(ctx context.Context, id string, args ...string) ([]provision.OffsiteCopy, error) {
	args = append([]string{"snapshots", "--json", "--no-lock", "-q"}, args...)
	if id != "" {
		args = append(args, "--", id)
	}
	out := &capBuffer{max: jsonMax}
	res, err := r.runRestic(ctx, run{args: args, stdout: out})
	if err != nil {
		return nil, classify(ctx, "list the copies", res, err)
	}
	var snaps []snapshotJSON
	if err := json.Unmarshal(out.Bytes(), &snaps); err != nil {
		return nil, broken("restic's list of copies could not be read", err)
	}
	var copies []provision.OffsiteCopy
	for _, s := range snaps {
		if c, ok := toCopy(s); ok {
			copies = append(copies, c)
		}
	}
	slices.SortFunc(copies, func(a, b provision.OffsiteCopy) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(b.Backup, a.Backup), cmp.Compare(a.Snapshot, b.Snapshot))
	})
	return copies, nil
}

// toCopy reads an odoobot copy from a snapshot: tagged odoobot, with
// exactly one instance, backup and reason tag each, and a full id.
func toCopy(s snapshotJSON) (provision.OffsiteCopy, bool) {
	c := provision.OffsiteCopy{Snapshot: s.ID, CreatedAt: s.Time.UTC(), Host: s.Hostname}
	if len(s.ID) != 64 || checkSnapshot(s.ID) != nil || !slices.Contains(s.Tags, tagOdoobot) {
		return provision.OffsiteCopy{}, false
	}
	seen := 0
	for _, t := range s.Tags {
		var field *string
		switch {
		case strings.HasPrefix(t, tagInstance):
			field = &c.Instance
		case strings.HasPrefix(t, tagBackup):
			field = &c.Backup
		case strings.HasPrefix(t, tagReason):
			field = &c.Reason
		default:
			continue
		}
		_, v, _ := strings.Cut(t, "=")
		if *field != "" || v == "" {
			return provision.OffsiteCopy{}, false
		}
		*field = v
		seen++
	}
	return c, seen == 3
}

// Fetch writes file name of copy c (restic dump) to path, a new file it
// creates with mode 0600 (refused when anything is there, a link
// included: it is never followed). Past limit bytes it stops restic and
// fails (broken). On any failure the file it made is removed. name must
// be a plain file name and c.Snapshot a hexadecimal id (both go on
// restic's command line); a name the copy does not hold fails (broken).
func (r *Restic) Fetch(ctx context.Context, c provision.OffsiteCopy, name, path string, limit int64) (err error) {
	if err := r.settings(); err != nil {
		return err
	}
	if err := checkSnapshot(c.Snapshot); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if limit <= 0 {
		return refused(fmt.Sprintf("no room allowed to fetch %s (limit %d bytes)", name, limit), "fetch with a positive limit")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return refused(fmt.Sprintf("%s is already there", path), "fetch into a new file: remove it, or choose another path")
		}
		return &provision.Error{Kind: provision.KindBroken, What: "the file to fetch into could not be created", Hint: hintLog, Err: fmt.Errorf("offsite: fetch %s: %w", name, err)}
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = broken("the fetched file could not be written", cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	// Exactly 0600, whatever the umask.
	if err := f.Chmod(0o600); err != nil {
		return broken("the fetched file's mode could not be set", err)
	}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	w := &capWriter{w: f, max: limit, onOver: stop}
	res, runErr := r.runRestic(rctx, run{args: []string{"dump", "-q", "--", c.Snapshot, "/" + name}, stdout: w})
	if w.over {
		return &provision.Error{Kind: provision.KindBroken,
			What: fmt.Sprintf("file %s of copy %s is larger than the %d bytes allowed", name, short(c.Snapshot), limit),
			Hint: "the copy does not match its manifest: fetch another copy",
			Err:  fmt.Errorf("offsite: fetch %s of %s: more than %d bytes", name, c.Snapshot, limit)}
	}
	if runErr != nil {
		if strings.Contains(res.stderr, "not found in snapshot") || strings.Contains(res.stderr, "no matching ID found") {
			return &provision.Error{Kind: provision.KindBroken,
				What: fmt.Sprintf("copy %s holds no file %s", short(c.Snapshot), name),
				Hint: "list the copies again: it may have been forgotten, or be damaged",
				Err:  fmt.Errorf("offsite: fetch %s of %s: %w: %s", name, c.Snapshot, runErr, lastLines(res.stderr, 3, 500))}
		}
		return classify(ctx, "fetch "+name, res, runErr)
	}
	if err := f.Sync(); err != nil {
		return broken("the fetched file could not be written", err)
	}
	return nil
}

// short is a snapshot id as restic shows it: its first 8 digits.
func short(id string) string { return id[:min(len(id), 8)] }

// Forget removes the copies whose ids are given and the data no other
// copy uses (restic forget --prune). It first removes the repository's
// stale locks (restic unlock: only those of runs that are gone, such as
// a push killed mid-way on this host, or older than 30 minutes), which
// would stop the prune; restic judges a lock by the host name and
// process it records, so servers sharing one repository must have
// distinct host names. An id the repository does not have is ignored;
// an id that is not hexadecimal is refused before restic runs. No ids:
// nothing is run.
func (r *Restic) Forget(ctx context.Context, snapshots []string) error {
	if len(snapshots) == 0 {
		return nil
	}
	if err := r.settings(); err != nil {
		return err
	}
	for _, id := range snapshots {
		if err := checkSnapshot(id); err != nil {
			return err
		}
	}
	if res, err := r.runRestic(ctx, run{args: []string{"unlock", "-q"}}); err != nil {
		return classify(ctx, "remove stale locks", res, err)
	}
	args := append([]string{"forget", "-q", "--prune", "--"}, snapshots...)
	if res, err := r.runRestic(ctx, run{args: args}); err != nil {
		return classify(ctx, "forget copies", res, err)
	}
	return nil
}
