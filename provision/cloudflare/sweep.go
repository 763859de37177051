package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sweep deletes the records of the Ledger's tombstones: records of
// instances this server deleted, or whose creation it rolled back, that
// are still in the zone — a DELETE that failed, or a create whose answer
// was lost and that Cloudflare applied late — and challenge records left
// for more than an hour. It never deletes a record because an instance is
// missing from a store: only what the Ledger positively says is gone, and
// only records the Ledger holds (by ID, or as the create journaled just
// before their creation time), whatever their comment. It may run at any
// time, beside creations: it re-reads the Ledger for each name before it
// deletes, and a tombstone is never lifted.
//
// Each name is checked against the apex guard. Entries whose record is
// gone are forgotten, and so are tombstoned creates that matched nothing
// for longer than a late create can take.
//
// It returns what it removed ("A acme.example.com"), and the errors of
// the names it could not finish, joined.
func (c *Client) Sweep(ctx context.Context) (removed []string, err error) {
	removed, err = c.sweep(c.longCall(ctx))
	return removed, c.scrub(err)
}

func (c *Client) sweep(ctx context.Context) ([]string, error) {
	if err := c.needLedger("sweep"); err != nil {
		return nil, err
	}
	buried, err := c.ledger.Buried(ctx)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: sweep: read odoobot's tombstones: %w", err)
	}
	if len(buried) == 0 {
		c.log.InfoContext(ctx, "cloudflare: sweep: no tombstone, nothing to delete", "server", c.server)
		return nil, nil
	}
	zoneID, err := c.ZoneID(ctx)
	if err != nil {
		return nil, err
	}
	doomed := map[int64]bool{}
	var names []string
	for _, e := range buried {
		doomed[e.Key] = true
		if !slices.Contains(names, e.Name) {
			names = append(names, e.Name)
		}
	}
	var removed []string
	var errs []error
	for _, name := range names {
		got, err := c.sweepName(ctx, zoneID, name, doomed)
		removed = append(removed, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	c.log.InfoContext(ctx, "cloudflare: sweep done", "server", c.server, "tombstones", len(buried), "removed", removed)
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("cloudflare: sweep: %w", err)
	}
	return removed, nil
}

// sweepName deletes the records at name whose entries are in doomed.
func (c *Client) sweepName(ctx context.Context, zoneID, name string, doomed map[int64]bool) ([]string, error) {
	var gerr error
	if strings.HasPrefix(name, ACMEPrefix) {
		_, gerr = acmeGuard("sweep", name, c.zone)
	} else {
		_, gerr = guard("sweep", name, c.zone)
	}
	if gerr != nil {
		return nil, gerr
	}
	found, err := c.list(ctx, zoneID, name)
	if err != nil {
		return nil, err
	}
	// Read again, now that the listing is in: what was doomed still is
	// (a tombstone is never lifted), and entries made since claim their
	// records first.
	entries, err := c.ledger.Entries(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read odoobot's records at %s: %w", name, err)
	}
	owned := claim(found, entries)
	var removed []string
	var errs []error
	for _, r := range found {
		e, ok := owned[r.ID]
		if !ok || !doomed[e.Key] {
			continue
		}
		if err := c.removeOwned(ctx, zoneID, r, e); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.Type+" "+r.Name)
	}
	var stale []Entry
	for _, e := range entries {
		matched := slices.ContainsFunc(found, func(r record) bool { o, ok := owned[r.ID]; return ok && o.Key == e.Key })
		switch {
		case !doomed[e.Key] || matched:
		case e.RecordID != "":
			stale = append(stale, e) // its record is gone.
		case time.Since(e.Attempted) > lateWindow+clockSkew:
			stale = append(stale, e) // a create never applied.
		}
	}
	for _, e := range stale {
		c.forget(ctx, e)
	}
	return removed, errors.Join(errs...)
}

// Adopt takes into the Ledger the A record at fqdn that a version of
// odoobot keeping no record IDs made: one record carrying exactly
// Comment(fqdn), or the bare Marker, and pointing at this server's
// PublicIP. It does nothing when the Ledger already holds an entry at
// fqdn, and adopts nothing when several records qualify. The caller
// vouches that fqdn is an instance this server has (see the README): a
// marked record at any other name stays someone else's. It returns the
// ID adopted, "" when none.
func (c *Client) Adopt(ctx context.Context, fqdn string) (string, error) {
	id, err := c.adopt(c.call(ctx), fqdn)
	return id, c.scrub(err)
}

func (c *Client) adopt(ctx context.Context, fqdn string) (string, error) {
	if _, err := guard("adopt record", fqdn, c.zone); err != nil {
		return "", err
	}
	if err := c.needLedger("adopt record " + fqdn); err != nil {
		return "", err
	}
	entries, err := c.ledger.Entries(ctx, fqdn)
	if err != nil {
		return "", fmt.Errorf("cloudflare: adopt record %s: read odoobot's records: %w", fqdn, err)
	}
	if len(entries) > 0 {
		return "", nil
	}
	_, found, err := c.guardedList(ctx, "adopt record", fqdn)
	if err != nil {
		return "", err
	}
	var legacy []record
	for _, r := range found {
		comment := strings.TrimSpace(r.Comment)
		if r.Type == "A" && r.Content == c.ip && (comment == c.Comment(fqdn) || comment == Marker) {
			legacy = append(legacy, r)
		}
	}
	if len(legacy) != 1 {
		return "", nil
	}
	r := legacy[0]
	if _, err := c.ledger.Journal(ctx, Entry{Name: fqdn, Type: "A", Content: r.Content, RecordID: r.ID, Attempted: r.CreatedOn, CreatedOn: r.CreatedOn}); err != nil {
		return "", fmt.Errorf("cloudflare: adopt record %s: %w", fqdn, err)
	}
	c.log.InfoContext(ctx, "cloudflare: record of an earlier version adopted", "name", fqdn, "id", r.ID)
	return r.ID, nil
}
