package provisiontest

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"

	"odoobot/provision"
)

// remoteCopy is one copy in the model's offsite repository: the backup's
// manifest, its files, and the databases its dumps hold.
type remoteCopy struct {
	copy     provision.OffsiteCopy
	manifest provision.Manifest
	files    map[string]string
	dbs      map[string]Database
}

// Offsite is a provision.Offsite over the model's offsite repository.
type Offsite struct{ h *Host }

var _ provision.Offsite = (*Offsite)(nil)

// Offsite is the host's offsite repository.
func (h *Host) Offsite() *Offsite { return &Offsite{h: h} }

// SetOffsiteDown makes every offsite call fail with err (nil: reachable
// again), as an unreachable repository does.
func (h *Host) SetOffsiteDown(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.offDown = err
}

// Check fails when the repository is down.
func (o *Offsite) Check(context.Context) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	return o.h.offDown
}

// Push copies a sealed backup of the model.
func (o *Offsite) Push(_ context.Context, b provision.BackupInfo) (provision.OffsiteCopy, error) {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if o.h.offDown != nil {
		return provision.OffsiteCopy{}, o.h.offDown
	}
	for _, got := range o.h.backups[b.Database] {
		if got.manifest.ID != b.ID {
			continue
		}
		o.h.snapshots++
		c := remoteCopy{
			copy: provision.OffsiteCopy{
				Snapshot: fmt.Sprintf("%064x", o.h.snapshots), Instance: b.Database, Backup: b.ID,
				Reason: b.Reason, CreatedAt: b.CreatedAt, Host: "test",
			},
			manifest: got.manifest, files: maps.Clone(got.files), dbs: map[string]Database{},
		}
		if db, ok := o.h.dumps[path.Join(backupRoot, b.Database, b.ID, provision.DumpName)]; ok {
			c.dbs[provision.DumpName] = db
		}
		o.h.offsite = append(o.h.offsite, c)
		return c.copy, nil
	}
	return provision.OffsiteCopy{}, fmt.Errorf("provisiontest: push %s/%s: no such backup", b.Database, b.ID)
}

// List returns the copies, newest first.
func (o *Offsite) List(_ context.Context, internal string) ([]provision.OffsiteCopy, error) {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if o.h.offDown != nil {
		return nil, o.h.offDown
	}
	var out []provision.OffsiteCopy
	for _, c := range slices.Backward(o.h.offsite) {
		if internal == "" || c.copy.Instance == internal {
			out = append(out, c.copy)
		}
	}
	return out, nil
}

// Fetch writes a file of a copy where a draft reads it.
func (o *Offsite) Fetch(_ context.Context, c provision.OffsiteCopy, name, dst string, limit int64) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if o.h.offDown != nil {
		return o.h.offDown
	}
	for _, got := range o.h.offsite {
		if got.copy.Snapshot != c.Snapshot {
			continue
		}
		var content string
		switch {
		case name == provision.ManifestName:
			raw, err := json.Marshal(got.manifest)
			if err != nil {
				return err
			}
			content = string(raw)
		default:
			f, ok := got.files[name]
			if !ok {
				return fmt.Errorf("provisiontest: fetch %s of %s: %w", name, c.Backup, fs.ErrNotExist)
			}
			content = f
		}
		if int64(len(content)) > limit && name == provision.ManifestName {
			return fmt.Errorf("provisiontest: fetch %s: over %d bytes", name, limit)
		}
		if db, ok := got.dbs[name]; ok {
			o.h.dumps[dst] = db
		}
		o.h.fetched[dst] = content
		return nil
	}
	return fmt.Errorf("provisiontest: fetch: no copy %s", c.Snapshot)
}

// Forget removes copies.
func (o *Offsite) Forget(_ context.Context, snapshots []string) error {
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if o.h.offDown != nil {
		return o.h.offDown
	}
	o.h.offsite = slices.DeleteFunc(o.h.offsite, func(c remoteCopy) bool { return slices.Contains(snapshots, c.copy.Snapshot) })
	return nil
}
