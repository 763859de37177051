package provisiontest

import (
	"context"
	"fmt"
	"path"
	"time"

	"odoobot/provision"
)

// written is one WriteData: the text and the host's time then.
type written struct {
	at   time.Time
	text string
}

// PointInTime is a provision.PointInTime over the model: the archive
// holds every WriteData since the host began; a restore to a time gives
// a database whose Data is the last text written at or before it.
type PointInTime struct{ h *Host }

var _ provision.PointInTime = (*PointInTime)(nil)

// PointInTime is the host's WAL archive.
func (h *Host) PointInTime() *PointInTime { return &PointInTime{h: h} }

// pitrRoot is where the model's scratch dumps are.
const pitrRoot = "/var/lib/odoobot/pitr"

// Window is the archive's start (SetArchiveStart); by default the zero
// time, as if it reached back to the host's start.
func (p *PointInTime) Window(context.Context) (time.Time, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	return p.h.pitrFrom, nil
}

// SetArchiveStart sets the earliest time the archive can restore (the
// end of its first base backup).
func (h *Host) SetArchiveStart(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pitrFrom = t
}

// SwitchWAL has nothing to wait for.
func (p *PointInTime) SwitchWAL(context.Context, time.Duration) error { return nil }

// Extract keeps, as a dump, database db with the Data it had at at.
func (p *PointInTime) Extract(_ context.Context, db string, at time.Time, _ uint64) (provision.Reached, error) {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	got, ok := p.h.databases[db]
	if !ok {
		return provision.Reached{}, fmt.Errorf("provisiontest: extract: database %s does not exist", db)
	}
	got.Data = ""
	var last time.Time
	for _, w := range p.h.history[db] {
		if !w.at.After(at) {
			got.Data, last = w.text, w.at
		}
	}
	dump := path.Join(pitrRoot, db, "database.dump")
	p.h.dumps[dump] = got
	p.h.pitr[db] = true
	return provision.Reached{Target: at, LastTransaction: last, Stopped: "recovery stopping before commit", Dump: dump}, nil
}

// Clean removes db's scratch and dump.
func (p *PointInTime) Clean(_ context.Context, db string) error {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	delete(p.h.dumps, path.Join(pitrRoot, db, "database.dump"))
	delete(p.h.pitr, db)
	return nil
}

// Status says the model archives.
func (p *PointInTime) Status(context.Context) (provision.ArchiveStatus, error) {
	return provision.ArchiveStatus{On: true, Timeout: "1min", Repository: "ok"}, nil
}
