package provision

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// StagingDirName is the directory under PROD_ROOT where root prepares a
// tenant's files before they go into its tree, and keeps aside what it
// takes out: root's, 0700, so no tenant reaches anything there; on the
// file system of the instances' trees, so that moving a tree in or out
// is a rename. (Not prod-*: import never takes it for an instance.)
const StagingDirName = ".odoobot-staging"

// The instance's tree (its directory beneath PROD_ROOT: odoo.conf, the
// data dir and filestore, odoo.log, info-instancia.txt), the staging
// directory beside it, and the few host files the verbs read about an
// instance (its unit, its certificate directory), are reached only
// through the interfaces below; provision/tree is the driver. Every path
// derives from the instance's name and the Layout the driver was made
// with: no verb builds one. A tenant can write its own tree: the driver
// never follows a link there (a link where a directory or a file is
// expected is refused or replaced, never followed), never blocks on a
// FIFO, and bounds what it reads.

// InstanceFiles is everything the verbs do with an instance's files.
type InstanceFiles interface {
	InstanceTree
	OdooConfs
	TreeCopies
	KeptFiles
	InstanceRecords
	BackupFiles
}

// ErrNoSystemUser is matched (errors.Is) by the error of a lookup of a
// system user the host does not have.
var ErrNoSystemUser = errors.New("no such system user")

// InstanceTree lays out and removes an instance's directory.
type InstanceTree interface {
	// Leftover returns the first thing of inst found on the host (its
	// directory, unit file, nginx site in sites-available or
	// sites-enabled; a link counts), as a path to show; "" when there is
	// none.
	Leftover(ctx context.Context, inst Instance) (string, error)
	// Prepare makes PROD_ROOT (0755) when it is missing, and inst's
	// directory, custom_addons and data dir with their missing parents
	// (0750) and an empty odoo.log (0640) when nothing has its name,
	// beneath it on handles, a link on the way refused. It reports
	// whether custom_addons holds an Odoo module (a directory with
	// __init__.py and __manifest__.py), which Odoo asks of every
	// addons_path directory.
	Prepare(ctx context.Context, inst Instance) (modules bool, err error)
	// Give lays inst's files out for system user user. With own set (an
	// instance with a user of its own): the directory, custom_addons and
	// odoo.conf root's with the user's group (0750, 0750, 0640), the data
	// dir and everything in it and odoo.log (made when missing) the
	// user's (0750, 0640; odoo.log made when missing). Without: the whole
	// tree the user's. No link is followed; a hard link to a file
	// neither the user nor the tree's previous owner owns is refused.
	// A user the host does not have is an error matching ErrNoSystemUser.
	Give(ctx context.Context, inst Instance, user string, own bool) error
	// RemoveData removes inst's filestore (<data dir>/filestore/<internal
	// name>; one that is a link is left for Remove), then the filestore
	// directory, the data dir and inst's directory when each is empty.
	RemoveData(ctx context.Context, inst Instance) error
	// Remove removes inst's directory and everything in it; a link in it
	// or in its place is removed, never followed. Nothing there is fine.
	Remove(ctx context.Context, inst Instance) error
	// RemoveCertDir removes inst's certificate directory and what is in
	// it; nothing there is fine.
	RemoveCertDir(ctx context.Context, inst Instance) error
	// UserHome returns the home directory of system user name; an error
	// matching ErrNoSystemUser when the host has no such user.
	UserHome(ctx context.Context, name string) (string, error)
}

// ConfFile names one of the odoo.conf files of an instance's directory.
type ConfFile int

// The odoo.conf files of an instance.
const (
	// ConfLive is odoo.conf, the one the instance's unit runs with.
	ConfLive ConfFile = iota
	// ConfUpgradeTest is the odoo.conf of an upgrade's test copy, beside
	// the live one (the instance's user must read it).
	ConfUpgradeTest
)

// OdooConf is an odoo.conf as it was read: its bytes as they are, the
// mode it had, and the settings of its [options] section (the last of a
// key wins, as in Odoo), keys and values trimmed.
type OdooConf struct {
	Raw     []byte
	Mode    fs.FileMode
	Options map[string]string
}

// ConfEdit is a change to an odoo.conf.
type ConfEdit struct {
	// Set gives keys of the [options] section these values: the first
	// line of a key is replaced, its later lines dropped; a key with no
	// line is added right after the [options] header.
	Set map[string]string
	// FromDir and ToDir, when set, make every value that mentions
	// FromDir+"/" name ToDir+"/" there instead.
	FromDir, ToDir string
}

// FileOwner is who owns a file the driver writes in an instance's tree.
type FileOwner struct {
	// User is the system user whose group the file gets; "" is root's.
	User string
	// UserOwns makes User the owner; root owns the file otherwise.
	UserOwns bool
}

// OdooConfs reads and writes odoo.conf: the one reader and the one writer,
// which keeps every line it does not change byte for byte.
type OdooConfs interface {
	// ReadConf reads file of inst on handles beneath PROD_ROOT, never
	// following a link; a file with other hard links, or larger than 1
	// MiB, is refused. A missing file is an error matching
	// fs.ErrNotExist.
	ReadConf(ctx context.Context, inst Instance, file ConfFile) (OdooConf, error)
	// EditConf returns conf with edit made, every other line as it was.
	// It is an error (and nothing is returned) when conf has no [options]
	// section and edit sets a key, or when edit.FromDir is set and conf
	// does not mention it.
	EditConf(conf OdooConf, edit ConfEdit) ([]byte, error)
	// WriteConf replaces file of inst with b, mode and owner, whole or
	// not at all, on a handle: a link at its place or on the way is
	// replaced or refused, never followed.
	WriteConf(ctx context.Context, inst Instance, file ConfFile, b []byte, mode fs.FileMode, owner FileOwner) error
	// RemoveConf removes file of inst; nothing there is fine.
	RemoveConf(ctx context.Context, inst Instance, file ConfFile) error
}

// TreeCopies copies and moves filestores. Copies are built in the
// staging directory (root's, 0700, outside every instance's tree), given
// to their user there, then renamed into place: links and special files
// are left out, and a hard link to a file the source's owner does not own
// is refused. The names of the trees kept in the staging directory derive
// from the instance's name.
type TreeCopies interface {
	// CopyFilestore copies from's filestore (copy_file_range: reflinks
	// where the file system has them) into to's tree as to's filestore,
	// owned by user; to's directory is made (root's, 0750) when missing.
	// A source with no filestore gives an empty one.
	CopyFilestore(ctx context.Context, from, to Instance, user string) error
	// LinkCopy makes <filestore>/db of inst a tree of hard links to the
	// files of inst's own filestore, owned by user.
	LinkCopy(ctx context.Context, inst Instance, user, db string) error
	// RemoveCopy removes <filestore>/db of inst, and the copy a crash of
	// LinkCopy left in the staging directory.
	RemoveCopy(ctx context.Context, inst Instance, db string) error
	// SetAside keeps inst's filestore aside in the staging directory, as
	// hard links owned by user, replacing what was kept before.
	SetAside(ctx context.Context, inst Instance, user string) error
	// PutBack puts the filestore kept aside in place of inst's, owned by
	// user; nothing when none was kept.
	PutBack(ctx context.Context, inst Instance, user string) error
	// DropAside removes what SetAside kept; nothing kept is fine.
	DropAside(ctx context.Context, inst Instance) error
}

// RestoreSwap is what BackupFiles.SwapRestore did, also when it failed
// half-way: Swapped once the live filestore is out of the tree (or there
// was none), HadLive when there was one (it is then kept as the replaced
// one).
type RestoreSwap struct {
	Swapped, HadLive bool
}

// RestoreLeft is what a restore of an instance left on the host: a
// filestore staged, a replaced one kept, and whether the instance has a
// live filestore.
type RestoreLeft struct {
	Staged, Replaced, Live bool
}

// RestoreTree names a filestore a restore keeps in the staging directory.
type RestoreTree int

// The filestores a restore keeps in the staging directory.
const (
	// RestoreStaged is the backup's filestore, unpacked, before the swap.
	RestoreStaged RestoreTree = iota
	// RestoreReplaced is the live filestore the swap took out.
	RestoreReplaced
)

// BackupFiles is what backups and restores do with an instance's
// filestore (its odoo.conf is read with OdooConfs.ReadConf). A restore
// unpacks the backup's filestore in the staging directory (root's, 0700,
// outside every instance's tree), owned by the instance's user there, and
// swaps it with the live one by renames while the instance is stopped;
// the names it keeps there derive from the instance's name.
type BackupFiles interface {
	// ReadFilestore calls read with a read-only view of inst's filestore
	// (<data dir>/filestore/<internal name>), valid until read returns.
	// The view follows no link: the filestore reached through a link is
	// refused, a link inside is listed as a link and refused when opened,
	// and so is anything but a directory or a regular file; a hard link to
	// a file the filestore's owner does not own is refused with an error
	// read must let through (the archive stops). A missing filestore is
	// an empty view. The error is read's, or why the filestore could not
	// be opened.
	ReadFilestore(ctx context.Context, inst Instance, read func(fs.FS) error) error
	// StageRestore unpacks archive (a gzip-compressed tar, as a backup's
	// filestore is kept) as inst's filestore in the staging directory,
	// owned by user, in place of one staged before; nil archive stages an
	// empty filestore. An entry that is not a directory or a regular
	// file, or whose name is absolute, climbs out or comes twice, is
	// refused with an error naming it; nothing is written outside the
	// staged tree, no link followed, no set-id bit kept.
	StageRestore(ctx context.Context, inst Instance, user string, archive io.Reader) error
	// SwapRestore puts the staged filestore in place of inst's (which
	// must be stopped), each by one rename: the live one (if any) goes to
	// the staging directory as the replaced one (in place of an earlier
	// one), the staged one into inst's tree; the filestore directory is
	// made, owned by user, when missing. RestoreSwap says what was done,
	// also when the error says it stopped half-way.
	SwapRestore(ctx context.Context, inst Instance, user string) (RestoreSwap, error)
	// UnswapRestore removes inst's live filestore (the restored one) and,
	// when hadLive, puts the replaced one back in its place.
	UnswapRestore(ctx context.Context, inst Instance, hadLive bool) error
	// RestoreLeftover says what a restore of inst left on the host.
	RestoreLeftover(ctx context.Context, inst Instance) (RestoreLeft, error)
	// DropRestore removes the filestore tree a restore of inst keeps in
	// the staging directory; nothing there is fine.
	DropRestore(ctx context.Context, inst Instance, tree RestoreTree) error
	// ReadStaged calls read with a read-only view of the filestore
	// StageRestore staged for inst, valid until read returns, following
	// no link (as ReadFilestore's); nothing staged is an error matching
	// fs.ErrNotExist.
	ReadStaged(ctx context.Context, inst Instance, read func(fs.FS) error) error
}

// KeptSet names a set of files a job keeps for a rollback.
type KeptSet string

// The sets of kept files.
const (
	KeptIsolate KeptSet = "isolate" // odoo.conf and its mode, the unit, the database's owner
	KeptUpgrade KeptSet = "upgrade" // odoo.conf and the unit before the switch
)

// KeptFiles keeps small files root-only in the staging directory (0700,
// outside the instance's tree), for a rollback after a crash, and gives
// jobs scratch directories.
type KeptFiles interface {
	// Keep writes b as file name of inst's set, replacing an earlier one,
	// synced before it returns.
	Keep(ctx context.Context, inst Instance, set KeptSet, name string, b []byte) error
	// Kept reads file name of inst's set (at most 1 MiB); nil when none
	// was kept. KeptUpgrade also finds what earlier versions kept in the
	// instance's directory, when that directory is root's alone.
	Kept(ctx context.Context, inst Instance, set KeptSet, name string) ([]byte, error)
	// ForgetKept removes inst's set (and, for KeptUpgrade, what earlier
	// versions kept in a root-owned instance directory).
	ForgetKept(ctx context.Context, inst Instance, set KeptSet) error
	// ScratchDir makes a new directory, 0700, under parent (made, 0700,
	// when missing), its name beginning with prefix, and returns it with
	// a func that removes it and everything in it.
	ScratchDir(ctx context.Context, parent, prefix string) (dir string, remove func(), err error)
}

// InstanceRecords are the small files about instances: info-instancia.txt,
// the tracking export, the log's tail, the unit file.
type InstanceRecords interface {
	// WriteInfo replaces inst's info-instancia.txt with b (root's, 0644)
	// on a handle, a link never followed.
	WriteInfo(ctx context.Context, inst Instance, b []byte) error
	// RemoveInfo removes inst's info-instancia.txt; nothing there, or no
	// directory to hold it, is fine.
	RemoveInfo(ctx context.Context, inst Instance) error
	// ReadInfo reads inst's info-instancia.txt (a regular file, at most 1
	// MiB, never through a link, never blocking on a FIFO).
	ReadInfo(ctx context.Context, inst Instance) ([]byte, error)
	// ExportTracking rewrites API-DEV's tracking files in dir (made, 0755,
	// when missing) from ready, each file whole or not at all:
	// prod-instances.txt and puertos_ocupados_odoo.txt.
	ExportTracking(ctx context.Context, dir string, ready []Instance) error
	// TailLog returns the last n lines of inst's odoo.log (at most its
	// last MiB read, each line cut at 2 KiB and stripped of control
	// characters); nil when it cannot be read or is empty.
	TailLog(ctx context.Context, inst Instance, n int) []string
	// ReadUnit reads inst's unit file (at most 1 MiB, a link at its place
	// refused); a missing one is an error matching fs.ErrNotExist.
	ReadUnit(ctx context.Context, inst Instance) ([]byte, error)
	// UnitUser returns the User= of inst's unit file ("" when it has
	// none: the unit runs as root; the last one wins, as in systemd); a
	// missing one is an error matching fs.ErrNotExist.
	UnitUser(ctx context.Context, inst Instance) (string, error)
}

// APIDEVFiles is what import reads of the host to find the instances
// API-DEV made (ScanAPIDEV). It changes nothing. Every read is bounded
// and never blocks on a FIFO.
type APIDEVFiles interface {
	// InstanceDirs lists the names of the prod-* directories under
	// PROD_ROOT (links are not directories); none when PROD_ROOT is
	// missing.
	InstanceDirs(ctx context.Context) ([]string, error)
	// DirTime is when inst's directory was last modified; an error
	// matching fs.ErrNotExist when there is none.
	DirTime(ctx context.Context, inst Instance) (time.Time, error)
	// ReadTracking reads API-DEV's tracking file name in dir (at most 1
	// MiB); nil when it is missing.
	ReadTracking(ctx context.Context, dir, name string) ([]byte, error)
	// ReadSite reads inst's nginx site in sites-available (at most 1 MiB).
	ReadSite(ctx context.Context, inst Instance) ([]byte, error)
	// ReadConf, ReadUnit and ReadInfo are as in OdooConfs and
	// InstanceRecords.
	ReadConf(ctx context.Context, inst Instance, file ConfFile) (OdooConf, error)
	ReadUnit(ctx context.Context, inst Instance) ([]byte, error)
	ReadInfo(ctx context.Context, inst Instance) ([]byte, error)
}
