package cloudflare

import (
	"context"
	"slices"
	"time"

	"odoobot/provision"
)

// Ledger is where the Client keeps what it made, so that ownership rests
// on odoobot's own state, not on a comment anyone with access to the zone
// can write. provision/postgres implements it in the state database.
//
// An Entry is journaled before the POST that makes its record, and given
// the record's ID when Cloudflare confirms it. DeleteRecord turns the
// entries at a name into tombstones (Bury) before it deletes anything;
// Sweep works only from tombstones. An entry is removed (Forget) once its
// record is known to be gone, or never made.
type Ledger interface {
	// Journal records e (Key ignored) and returns its key. e.RecordID is
	// empty for a create about to be sent, set for a record adopted.
	Journal(ctx context.Context, e Entry) (key int64, err error)
	// Made gives the entry key the ID and creation time of its record.
	Made(ctx context.Context, key int64, recordID string, createdOn time.Time) error
	// Entries returns every entry at exactly name, tombstoned or not,
	// oldest first.
	Entries(ctx context.Context, name string) ([]Entry, error)
	// Bury tombstones every entry at exactly name: the instance is gone
	// (deleted, or its creation rolled back) and its records are to go.
	// A tombstone is never lifted.
	Bury(ctx context.Context, name string) error
	// Forget removes the entry key.
	Forget(ctx context.Context, key int64) error
	// Buried returns every tombstoned entry, oldest first, and the
	// challenge (TXT) entries older than an hour, which outlived the one
	// validation they were made for.
	Buried(ctx context.Context) ([]Entry, error)
}

// Entry is one record the Client made, or is about to make.
type Entry = provision.DNSEntry

// lateWindow bounds how long after a create was journaled a record
// Cloudflare reports as created then is taken for that create's, applied
// late; clockSkew is how far before it Cloudflare's clock may put it.
const (
	lateWindow = 15 * time.Minute
	clockSkew  = 2 * time.Minute
)

// owner returns the entry a listed record belongs to: the entry holding
// its ID, else the unconfirmed create of the same name, type and content
// journaled last before the record's creation time (allowing clockSkew),
// at most lateWindow before it, not claimed by another record. ok is
// false when the record is not odoobot's, whatever its comment says.
func owner(r record, entries []Entry, claimed map[int64]bool) (Entry, bool) {
	for _, e := range entries {
		if e.RecordID != "" && e.RecordID == r.ID {
			return e, true
		}
	}
	var best Entry
	found := false
	for _, e := range entries {
		if e.RecordID != "" || claimed[e.Key] || e.Type != r.Type || e.Content != contentOf(r) || r.CreatedOn.IsZero() {
			continue
		}
		if e.Attempted.After(r.CreatedOn.Add(clockSkew)) || r.CreatedOn.After(e.Attempted.Add(lateWindow)) {
			continue
		}
		if !found || e.Attempted.After(best.Attempted) {
			best, found = e, true
		}
	}
	return best, found
}

// contentOf is what a ledger entry keeps of a record's content: a TXT
// value without its quotes.
func contentOf(r record) string {
	if r.Type == "TXT" {
		return txtValue(r.Content)
	}
	return r.Content
}

// claim matches listed records to entries (see owner), each entry to at
// most one record: by ID first, then the records by creation time. The
// result maps a record ID to its entry; records left out are not
// odoobot's.
func claim(found []record, entries []Entry) map[string]Entry {
	mine := map[string]Entry{}
	claimed := map[int64]bool{}
	for _, r := range found {
		for _, e := range entries {
			if e.RecordID != "" && e.RecordID == r.ID {
				mine[r.ID], claimed[e.Key] = e, true
			}
		}
	}
	rest := slices.Clone(found)
	slices.SortStableFunc(rest, func(a, b record) int { return a.CreatedOn.Compare(b.CreatedOn) })
	for _, r := range rest {
		if _, ok := mine[r.ID]; ok {
			continue
		}
		if e, ok := owner(r, entries, claimed); ok {
			mine[r.ID], claimed[e.Key] = e, true
		}
	}
	return mine
}
