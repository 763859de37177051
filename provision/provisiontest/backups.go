package provisiontest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"odoobot/provision"
)

// Postgres is a provision.Postgres over the model's databases: dumps are
// copies of a database kept by file name.
type Postgres struct{ h *Host }

var _ provision.Postgres = (*Postgres)(nil)

// Postgres is the host's cluster as the day-two jobs reach it.
func (h *Host) Postgres() *Postgres { return &Postgres{h: h} }

// Exists reports whether a database exists.
func (p *Postgres) Exists(_ context.Context, db string) (bool, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	_, ok := p.h.databases[db]
	return ok, nil
}

// Drop drops a database; a missing one is fine.
func (p *Postgres) Drop(_ context.Context, db string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	delete(p.h.databases, db)
	return nil
}

// Rename renames a database; the target must be free.
func (p *Postgres) Rename(_ context.Context, from, to string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	return p.h.rename(from, to)
}

// rename renames database from to to. h.mu is held.
func (h *Host) rename(from, to string) error {
	db, ok := h.databases[from]
	if !ok {
		return fmt.Errorf("provisiontest: rename: database %s does not exist", from)
	}
	if _, ok := h.databases[to]; ok {
		return fmt.Errorf("provisiontest: rename: database %s exists", to)
	}
	delete(h.databases, from)
	h.databases[to] = db
	return nil
}

// Swap renames from to aside and in to from, both or neither.
func (p *Postgres) Swap(_ context.Context, from, aside, in string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	_, okFrom := p.h.databases[from]
	_, okIn := p.h.databases[in]
	_, okAside := p.h.databases[aside]
	if !okFrom || !okIn || okAside {
		return fmt.Errorf("provisiontest: swap %s, %s, %s: not as a swap needs", from, aside, in)
	}
	_ = p.h.rename(from, aside)
	return p.h.rename(in, from)
}

// SetAside copies db to aside, owned by owner.
func (p *Postgres) SetAside(_ context.Context, db, aside, owner string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	got, ok := p.h.databases[db]
	if !ok {
		return fmt.Errorf("provisiontest: set aside: database %s does not exist", db)
	}
	if _, ok := p.h.databases[aside]; ok {
		return fmt.Errorf("provisiontest: set aside: database %s exists", aside)
	}
	got.Owner = owner
	p.h.databases[aside] = got
	return nil
}

// Size is one MiB for every database.
func (p *Postgres) Size(_ context.Context, db string) (uint64, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	if _, ok := p.h.databases[db]; !ok {
		return 0, fmt.Errorf("provisiontest: size: database %s does not exist", db)
	}
	return 1 << 20, nil
}

// Dump keeps a copy of db as file.
func (p *Postgres) Dump(_ context.Context, db, file string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	got, ok := p.h.databases[db]
	if !ok {
		return fmt.Errorf("provisiontest: dump: database %s does not exist", db)
	}
	p.h.dumps[file] = got
	return nil
}

// DumpCopy keeps a copy of db as path, as Dump does.
func (p *Postgres) DumpCopy(ctx context.Context, db, path string) error {
	return p.Dump(ctx, db, path)
}

// Restore makes database db from the dump file, owned by owner; a db
// that exists is refused.
func (p *Postgres) Restore(_ context.Context, db, owner, file string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	got, ok := p.h.dumps[file]
	if !ok {
		return fmt.Errorf("provisiontest: restore: no dump %s", file)
	}
	if _, ok := p.h.databases[db]; ok {
		return fmt.Errorf("provisiontest: restore: database %s exists", db)
	}
	got.Owner = owner
	p.h.databases[db] = got
	return nil
}

// counts are the rows the model's database db holds: its modules
// installed and one partner per byte of what its users wrote.
func counts(db Database) map[string]int64 {
	n := int64(0)
	if db.Modules != "" {
		n = int64(len(strings.Split(db.Modules, ",")))
	}
	return map[string]int64{"ir_module_module installed": n, "res_partner": int64(len(db.Data))}
}

// CountedDump keeps a copy of db as file and counts its rows.
func (p *Postgres) CountedDump(ctx context.Context, db, file string) (map[string]int64, error) {
	if err := p.Dump(ctx, db, file); err != nil {
		return nil, err
	}
	return p.Counts(ctx, db)
}

// Counts counts the rows of db.
func (p *Postgres) Counts(_ context.Context, db string) (map[string]int64, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	got, ok := p.h.databases[db]
	if !ok {
		return nil, fmt.Errorf("provisiontest: counts: database %s does not exist", db)
	}
	return counts(got), nil
}

// backup is one backup of the model: its manifest and the files it
// holds, by name (a dump's database, or an archive's filestore owner).
type backup struct {
	manifest provision.Manifest
	files    map[string]string
}

// Backups is a provision.BackupStore over the model's backups.
type Backups struct{ h *Host }

var _ provision.BackupStore = (*Backups)(nil)

// Backups are the host's BACKUP_DIR.
func (h *Host) Backups() *Backups { return &Backups{h: h} }

const backupRoot = "/var/backups/odoobot"

// Begin starts a backup, hidden until sealed.
func (b *Backups) Begin(internal string, now time.Time) (provision.BackupDraft, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	id := now.UTC().Format(provision.IDLayout)
	for n := 2; b.h.hasBackup(internal, id); n++ {
		id = fmt.Sprintf("%s-%d", now.UTC().Format(provision.IDLayout), n)
	}
	d := &draft{h: b.h, internal: internal, id: id, files: map[string]string{}}
	b.h.drafts[internal+"/"+id] = d
	return d, nil
}

// BeginAs starts a backup under id; a taken id is refused.
func (b *Backups) BeginAs(internal, id string) (provision.BackupDraft, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	if b.h.hasBackup(internal, id) {
		return nil, fmt.Errorf("provisiontest: backup %s/%s: %w", internal, id, fs.ErrExist)
	}
	d := &draft{h: b.h, internal: internal, id: id, files: map[string]string{}}
	b.h.drafts[internal+"/"+id] = d
	return d, nil
}

// Instances lists the internal names with sealed backups.
func (b *Backups) Instances() ([]string, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	var out []string
	for internal, list := range b.h.backups {
		if len(list) > 0 {
			out = append(out, internal)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Remove removes a sealed backup; a missing one is fine.
func (b *Backups) Remove(internal, id string) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	b.h.backups[internal] = slices.DeleteFunc(b.h.backups[internal], func(got backup) bool { return got.manifest.ID == id })
	return nil
}

// hasBackup reports whether id is taken. h.mu is held.
func (h *Host) hasBackup(internal, id string) bool {
	if _, ok := h.drafts[internal+"/"+id]; ok {
		return true
	}
	return slices.ContainsFunc(h.backups[internal], func(b backup) bool { return b.manifest.ID == id })
}

func (h *Host) info(internal string, b backup) provision.BackupInfo {
	return provision.BackupInfo{Manifest: b.manifest, Dir: path.Join(backupRoot, internal, b.manifest.ID), Intact: true}
}

// List returns the instance's sealed backups, newest first.
func (b *Backups) List(_ context.Context, internal string, _ time.Time) ([]provision.BackupInfo, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	var out []provision.BackupInfo
	for _, got := range slices.Backward(b.h.backups[internal]) {
		out = append(out, b.h.info(internal, got))
	}
	return out, nil
}

// Read returns one sealed backup.
func (b *Backups) Read(internal, id string) (provision.BackupInfo, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	for _, got := range b.h.backups[internal] {
		if got.manifest.ID == id {
			return b.h.info(internal, got), nil
		}
	}
	return provision.BackupInfo{}, fmt.Errorf("provisiontest: backup %s/%s: no such backup", internal, id)
}

// Verify finds every backup intact.
func (b *Backups) Verify(provision.BackupInfo) error { return nil }

// Prune keeps every sealed backup and removes half-made ones.
func (b *Backups) Prune(internal string, _ provision.Retention, _ ...string) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	for k := range b.h.drafts {
		if strings.HasPrefix(k, internal+"/") {
			delete(b.h.drafts, k)
		}
	}
	return nil
}

// Abandon removes the instance's half-made backups.
func (b *Backups) Abandon(internal string) (int, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	n := 0
	for k := range b.h.drafts {
		if strings.HasPrefix(k, internal+"/") {
			delete(b.h.drafts, k)
			n++
		}
	}
	return n, nil
}

// Room has room for every backup.
func (b *Backups) Room(string, uint64, fs.FS) error { return nil }

// OpenFilestore opens what the backup's filestore archive records.
func (b *Backups) OpenFilestore(info provision.BackupInfo) (io.ReadCloser, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	for _, got := range b.h.backups[InternalOf(info)] {
		if got.manifest.ID == info.ID {
			arc, ok := got.files[provision.FilestoreName]
			if !ok {
				return nil, fmt.Errorf("provisiontest: open filestore: backup %s has none: %w", info.ID, fs.ErrNotExist)
			}
			return io.NopCloser(strings.NewReader(arc)), nil
		}
	}
	return nil, fmt.Errorf("provisiontest: open filestore: no backup %s: %w", info.ID, fs.ErrNotExist)
}

// InternalOf is the internal name of the instance a backup is of.
func InternalOf(info provision.BackupInfo) string { return info.Database }

// draft is a backup being made.
type draft struct {
	h        *Host
	internal string
	id       string
	files    map[string]string
}

func (d *draft) ID() string { return d.id }

func (d *draft) Path(name string) string {
	return path.Join(backupRoot, d.internal, ".partial-"+d.id, name)
}

func (d *draft) Add(name string) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	if db, ok := d.h.dumps[d.Path(name)]; ok {
		d.files[name] = "dump of " + db.Modules
		return nil
	}
	if got, ok := d.h.fetched[d.Path(name)]; ok {
		d.files[name] = got
		return nil
	}
	return fmt.Errorf("provisiontest: add %s: nothing written there", name)
}

// Read returns what a fetch wrote as name.
func (d *draft) Read(name string, limit int64) ([]byte, error) {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	got, ok := d.h.fetched[d.Path(name)]
	if !ok {
		return nil, fmt.Errorf("provisiontest: read %s: %w", name, fs.ErrNotExist)
	}
	if int64(len(got)) > limit {
		return nil, fmt.Errorf("provisiontest: read %s: over %d bytes", name, limit)
	}
	return []byte(got), nil
}

func (d *draft) Write(name string, raw []byte) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	d.files[name] = string(raw)
	return nil
}

// Archive records the regular files of src, with their content.
func (d *draft) Archive(_ context.Context, src fs.FS, name string) error {
	var arc strings.Builder
	err := fs.WalkDir(src, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		fmt.Fprintf(&arc, "%s=%s\n", p, b)
		return err
	})
	if err != nil {
		return err
	}
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	d.files[name] = arc.String()
	return nil
}

func (d *draft) Seal(m provision.Manifest) error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	key := d.internal + "/" + d.id
	if _, ok := d.h.drafts[key]; !ok {
		return fmt.Errorf("provisiontest: seal %s: no such draft", key)
	}
	m.ID, m.Files = d.id, nil
	for name := range d.files {
		m.Files = append(m.Files, provision.BackupFile{Name: name})
		if db, ok := d.h.dumps[d.Path(name)]; ok {
			d.h.dumps[path.Join(backupRoot, d.internal, d.id, name)] = db
		}
	}
	delete(d.h.drafts, key)
	d.h.backups[d.internal] = append(d.h.backups[d.internal], backup{manifest: m, files: d.files})
	return nil
}

func (d *draft) Discard() error {
	d.h.mu.Lock()
	defer d.h.mu.Unlock()
	delete(d.h.drafts, d.internal+"/"+d.id)
	return nil
}

// backupLines describes the backups, drafts, dumps and unpacked trees
// for a snapshot. h.mu is held.
func (h *Host) backupLines(add func(string, ...any)) {
	for internal, list := range h.backups {
		for _, b := range list {
			add("backup %s/%s reason=%s", internal, b.manifest.ID, b.manifest.Reason)
		}
	}
	for k := range h.drafts {
		add("backup draft %s", k)
	}
	for _, c := range h.offsite {
		add("offsite %s/%s reason=%s", c.copy.Instance, c.copy.Backup, c.copy.Reason)
	}
}

// SetBackupCounts replaces what backup id of internal's manifest
// records of the data (a tampered count, or none as an earlier odoobot
// recorded); it reports whether the backup was found.
func (h *Host) SetBackupCounts(internal, id string, c *provision.DataCounts) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.backups[internal] {
		if b.manifest.ID == id {
			h.backups[internal][i].manifest.Counts = c
			return true
		}
	}
	return false
}
