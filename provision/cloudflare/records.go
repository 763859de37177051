package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/dns"

	"odoobot/provision"
)

const dnsPerm = "Zone.DNS edit"

// record is what this package reads of a DNS record.
type record struct {
	ID, Type, Name, Content, Comment string
	Proxied                          bool
	TTL                              float64
	CreatedOn                        time.Time
}

// Comment is the comment this server puts on the records it makes for
// the instance at fqdn (its first label): "managed-by: odoobot
// server=<ServerID> instance=<label>". It is a courtesy to the humans
// reading the zone, not a proof: a record is this server's only when the
// Ledger says it made it (see the package doc). The ACME challenge
// records of the instance carry the same comment.
func (c *Client) Comment(fqdn string) string {
	label, _, _ := strings.Cut(fqdn, ".")
	return Marker + " server=" + c.server + " instance=" + label
}

// holder says who holds a record this server did not make, for messages.
func (c *Client) holder(r record) string {
	desc := r.Type
	if r.Content != "" {
		desc += " " + r.Content
	}
	switch comment := strings.TrimSpace(r.Comment); {
	case strings.HasPrefix(comment, Marker+" server="+c.server+" "):
		return desc + ", carrying this server's mark (" + strings.TrimPrefix(comment, Marker+" ") + ") but not made by it: odoobot's state holds no such record"
	case strings.HasPrefix(comment, Marker+" "):
		return desc + ", marked by odoobot " + strings.TrimPrefix(comment, Marker+" ")
	case comment == Marker:
		return desc + ", marked by an odoobot of an earlier version, and not in this server's state"
	case comment == "":
		return desc + ", not made by odoobot"
	default:
		return desc + ", not made by odoobot (comment " + strconv.Quote(comment) + ")"
	}
}

// NameTakenError is the error of EnsureRecord when records this server
// did not make hold the instance's name. Nothing was changed. It matches
// ErrNameTaken (provision.ErrNameTakenInDNS) and ErrForeignRecord.
type NameTakenError struct {
	// Name is the instance's domain.
	Name string
	// Types are the types of the records holding it (A, CNAME, …), in
	// the order Cloudflare listed them.
	Types []string
	// Holders describe each record: type, content and who marked it.
	Holders []string
}

func (e *NameTakenError) Error() string {
	return fmt.Sprintf("%s is taken in DNS by %s (%s): odoobot did not make it on this server and leaves it alone; remove it in Cloudflare or choose another name",
		e.Name, typesPhrase(e.Types), strings.Join(e.Holders, "; "))
}

func (e *NameTakenError) Unwrap() []error {
	return []error{provision.ErrNameTakenInDNS, ErrForeignRecord}
}

func typesPhrase(types []string) string {
	if len(types) == 1 {
		return article(types[0]) + " " + types[0] + " record"
	}
	return strings.Join(types, ", ") + " records"
}

func article(typ string) string {
	if typ != "" && strings.ContainsRune("AEFHILMNORSX", rune(typ[0])) {
		return "an"
	}
	return "a"
}

// EnsureRecord makes fqdn an A record to the configured public IP, proxied,
// with TTL 1 and the comment Comment(fqdn). The TTL is "automatic":
// Cloudflare forces it on every proxied record, so no other value would
// stick.
//
// It is idempotent and keyed on the name: it looks before it creates. A
// record at that name is this server's only when the Ledger holds it (by
// ID, or as the create journaled just before its creation time). One of
// those that already matches is left alone (no write); one that differs
// (another IP, not proxied, an older comment) is updated in place, extra
// ones are removed, and tombstoned ones (of an instance deleted before)
// are deleted. Any other record at that name — another type, no mark,
// another server's mark, or this server's mark on a record the Ledger
// does not hold — is never touched: the call fails with a
// *NameTakenError, matching ErrNameTaken and ErrForeignRecord, that says
// which records hold the name.
//
// The create is journaled in the Ledger before the POST (no POST when
// that fails) and given the record's ID after it. When a create is not
// confirmed (the answer was lost, a 5xx, no record ID), the name is
// looked up again, with pauses taken from Config.MaxWait, before the call
// fails; a record Cloudflare applies even later is recognised by its
// name, content and creation time, and deleted by DeleteRecord or, after
// it, by Sweep.
//
// fqdn must pass the apex guard (see the package doc), checked before any
// request. It fails, sending nothing, when the Client has no Ledger.
func (c *Client) EnsureRecord(ctx context.Context, fqdn string) error {
	return c.scrub(c.ensureRecord(c.call(ctx), fqdn))
}

func (c *Client) ensureRecord(ctx context.Context, fqdn string) error {
	zoneID, found, err := c.guardedList(ctx, "ensure record", fqdn)
	if err != nil {
		return err
	}
	entries, err := c.ledger.Entries(ctx, fqdn)
	if err != nil {
		return fmt.Errorf("cloudflare: ensure record %s: read odoobot's records: %w", fqdn, err)
	}
	owned := claim(found, entries)
	var mine, doomed []record
	taken := &NameTakenError{Name: fqdn}
	for _, r := range found {
		e, ok := owned[r.ID]
		switch {
		case ok && e.Gone:
			doomed = append(doomed, r)
		case ok && r.Type == "A":
			if e.RecordID == "" {
				c.made(ctx, e.Key, r)
			}
			mine = append(mine, r)
		default:
			taken.Types = append(taken.Types, r.Type)
			taken.Holders = append(taken.Holders, c.holder(r))
		}
	}
	if len(taken.Types) > 0 {
		if len(mine) == 0 {
			c.remember(fqdn, true)
		}
		return fmt.Errorf("cloudflare: ensure record %s: %w", fqdn, taken)
	}
	c.remember(fqdn, false)
	var errs []error
	for _, r := range doomed {
		errs = append(errs, c.removeOwned(ctx, zoneID, r, owned[r.ID]))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(mine) == 0 {
		return c.create(ctx, zoneID, fqdn)
	}
	// Keep one that already matches, if any.
	slices.SortStableFunc(mine, func(a, b record) int {
		return boolInt(!c.matches(a, fqdn)) - boolInt(!c.matches(b, fqdn))
	})
	keep, extra := mine[0], mine[1:]
	for _, r := range extra {
		errs = append(errs, c.removeOwned(ctx, zoneID, r, owned[r.ID]))
	}
	if c.matches(keep, fqdn) {
		c.log.InfoContext(ctx, "cloudflare: record already in place", "name", fqdn, "content", c.ip, "id", keep.ID)
		return errors.Join(errs...)
	}
	return errors.Join(append(errs, c.update(ctx, zoneID, fqdn, keep))...)
}

// needLedger refuses a change when the Client has no Ledger: without it,
// nothing proves a record is this server's.
func (c *Client) needLedger(op string) error {
	if c.ledger == nil {
		return fmt.Errorf("cloudflare: %s: no ledger of the records odoobot made: refusing to change DNS records", op)
	}
	return nil
}

// made gives entry key the ID of r, found after its create was not
// confirmed. A failure is logged: the entry still matches r by its
// creation time.
func (c *Client) made(ctx context.Context, key int64, r record) {
	if err := c.ledger.Made(ctx, key, r.ID, r.CreatedOn); err != nil {
		c.log.WarnContext(ctx, "cloudflare: could not keep a record's ID in odoobot's state", "name", r.Name, "id", r.ID, "err", err)
	}
}

// removeOwned deletes r, a record of entry e, and forgets e once it is
// gone.
func (c *Client) removeOwned(ctx context.Context, zoneID string, r record, e Entry) error {
	if err := c.remove(ctx, zoneID, r); err != nil {
		return err
	}
	c.forget(ctx, e)
	return nil
}

// forget removes e from the Ledger; a failure leaves an entry whose
// record is gone, which a later DeleteRecord or Sweep forgets, and is
// only logged.
func (c *Client) forget(ctx context.Context, e Entry) {
	if err := c.ledger.Forget(ctx, e.Key); err != nil {
		c.log.WarnContext(ctx, "cloudflare: could not forget a deleted record in odoobot's state", "name", e.Name, "id", e.RecordID, "err", err)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// matches reports whether r is exactly the record EnsureRecord wants.
func (c *Client) matches(r record, fqdn string) bool {
	return r.Content == c.ip && r.Proxied && r.TTL == float64(dns.TTL1) && r.Comment == c.Comment(fqdn)
}

// remember notes whether EnsureRecord refused fqdn having made nothing
// there, so that the DeleteRecord undoing that creation does not report
// the records it was refused for.
func (c *Client) remember(fqdn string, refused bool) {
	c.takenMu.Lock()
	defer c.takenMu.Unlock()
	if refused {
		c.taken[fqdn] = true
	} else {
		delete(c.taken, fqdn)
	}
}

// refused reports, once, whether EnsureRecord last refused fqdn.
func (c *Client) refused(fqdn string) bool {
	c.takenMu.Lock()
	defer c.takenMu.Unlock()
	was := c.taken[fqdn]
	delete(c.taken, fqdn)
	return was
}

// guardedList checks fqdn against the apex guard, before any request,
// and that the Client has a Ledger, and lists the records at exactly that
// name.
func (c *Client) guardedList(ctx context.Context, action, fqdn string) (zoneID string, found []record, err error) {
	if _, err := guard(action, fqdn, c.zone); err != nil {
		return "", nil, err
	}
	if err := c.needLedger(action + " " + fqdn); err != nil {
		return "", nil, err
	}
	if zoneID, err = c.ZoneID(ctx); err != nil {
		return "", nil, err
	}
	found, err = c.list(ctx, zoneID, fqdn)
	return zoneID, found, err
}

// DeleteRecord removes the records at exactly fqdn that are this
// server's (see EnsureRecord: the Ledger, not the comment, says so).
// Before any DELETE it tombstones, in the Ledger, every entry at fqdn and
// at its challenge name, so that what it cannot delete now (a failed
// DELETE, a create Cloudflare applies later) is deleted by Sweep. No
// record there is not an error, nor is a record already gone when its
// DELETE arrives (404).
//
// Records this server did not make are left in place. When they are all
// that is wrong, the error matches ErrForeignRecord — except right after
// EnsureRecord refused fqdn for those very records: the creation being
// undone made nothing there, and that is not an error. When a DELETE of
// this server's own record fails, the error says so and does not match
// ErrForeignRecord, whatever else holds the name.
// fqdn must pass the apex guard.
func (c *Client) DeleteRecord(ctx context.Context, fqdn string) error {
	return c.scrub(c.deleteRecord(c.call(ctx), fqdn))
}

func (c *Client) deleteRecord(ctx context.Context, fqdn string) error {
	zoneID, found, err := c.guardedList(ctx, "delete record", fqdn)
	if err != nil {
		return err
	}
	refused := c.refused(fqdn)
	entries, err := c.ledger.Entries(ctx, fqdn)
	if err == nil {
		err = c.ledger.Bury(ctx, fqdn)
	}
	if err == nil {
		err = c.ledger.Bury(ctx, ACMEPrefix+fqdn)
	}
	if err != nil {
		return fmt.Errorf("cloudflare: delete record %s: tombstone odoobot's records in its state: %w; nothing was deleted", fqdn, err)
	}
	owned := claim(found, entries)
	var failed []error
	var foreign, ours []string
	for _, r := range found {
		e, ok := owned[r.ID]
		if !ok {
			foreign = append(foreign, c.holder(r))
			continue
		}
		if err := c.removeOwned(ctx, zoneID, r, e); err != nil {
			failed = append(failed, err)
			ours = append(ours, r.Type+" "+r.Content+" (id "+r.ID+")")
		}
	}
	c.forgetVanished(ctx, entries, found)
	switch {
	case len(failed) > 0:
		also := ""
		if len(foreign) > 0 {
			also = "; besides, records odoobot did not make hold the name and are left in place (" + strings.Join(foreign, "; ") + ")"
		}
		return fmt.Errorf("cloudflare: delete record %s: odoobot's own record %s could not be deleted: %w; it stays recorded for deletion and the next sweep deletes it, or run the delete again%s",
			fqdn, strings.Join(ours, ", "), errors.Join(failed...), also)
	case len(foreign) > 0 && refused:
		c.log.InfoContext(ctx, "cloudflare: nothing of ours to delete; the records that took the name are left in place",
			"name", fqdn, "records", foreign)
	case len(foreign) > 0:
		return fmt.Errorf("cloudflare: delete record %s: %w (%s): left in place; remove it in Cloudflare if it should go",
			fqdn, ErrForeignRecord, strings.Join(foreign, "; "))
	case len(found) == 0:
		c.log.InfoContext(ctx, "cloudflare: no record to delete", "name", fqdn)
	}
	return nil
}

// forgetVanished forgets the entries whose record has an ID that the
// listing found no more: Cloudflare no longer has it.
func (c *Client) forgetVanished(ctx context.Context, entries []Entry, found []record) {
	for _, e := range entries {
		if e.RecordID != "" && !slices.ContainsFunc(found, func(r record) bool { return r.ID == e.RecordID }) {
			c.forget(ctx, e)
		}
	}
}

// list returns every record, of any type, whose name is exactly fqdn.
func (c *Client) list(ctx context.Context, zoneID, fqdn string) ([]record, error) {
	var p dns.RecordListParams
	p.Name.Value.Exact.Value, p.Name.Value.Exact.Present = fqdn, true
	p.Name.Present = true
	found, err := c.listAll(ctx, zoneID, p)
	if err != nil {
		return nil, wrap("list records "+fqdn, dnsPerm, err)
	}
	var out []record
	for _, r := range found {
		if strings.EqualFold(strings.TrimSuffix(r.Name, "."), fqdn) {
			out = append(out, r) // the API filtered loosely: never act on another name.
		}
	}
	return out, nil
}

// listPage is the page size of record listings.
const listPage = 100

// listAll returns every record p selects, page after page.
func (c *Client) listAll(ctx context.Context, zoneID string, p dns.RecordListParams) ([]record, error) {
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.PerPage.Value, p.PerPage.Present = listPage, true
	var out []record
	for n := 1; n <= 10000; n++ {
		p.Page.Value, p.Page.Present = float64(n), true
		page, err := c.records.List(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Result {
			out = append(out, record{
				ID: r.ID, Type: string(r.Type), Name: strings.ToLower(strings.TrimSuffix(r.Name, ".")), Content: r.Content,
				Comment: r.Comment, Proxied: r.Proxied, TTL: float64(r.TTL), CreatedOn: r.CreatedOn,
			})
		}
		if len(page.Result) < listPage {
			break
		}
	}
	return out, nil
}

func (c *Client) aRecord(fqdn string) dns.ARecordParam {
	var a dns.ARecordParam
	a.Name.Value, a.Name.Present = fqdn, true
	a.Type.Value, a.Type.Present = dns.ARecordTypeA, true
	a.Content.Value, a.Content.Present = c.ip, true
	a.Proxied.Value, a.Proxied.Present = true, true
	a.TTL.Value, a.TTL.Present = dns.TTL1, true
	a.Comment.Value, a.Comment.Present = c.Comment(fqdn), true
	return a
}

// create makes fqdn's A record, journaled in the Ledger before the POST
// and given its ID after. A create that surely failed is forgotten. An
// answer that does not confirm it (lost in transit, a 5xx, no record ID)
// is followed by lookups of the name, with pauses taken from the call's
// budget, before it fails; the entry stays, so that a record Cloudflare
// applies later is still recognised as this server's.
func (c *Client) create(ctx context.Context, zoneID, fqdn string) error {
	key, err := c.ledger.Journal(ctx, Entry{Name: fqdn, Type: "A", Content: c.ip, Attempted: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("cloudflare: create record %s: journal the create in odoobot's state: %w; nothing was sent", fqdn, err)
	}
	var p dns.RecordNewParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.Body = c.aRecord(fqdn)
	r, err := c.records.New(ctx, p)
	err = wrap("create record "+fqdn, dnsPerm, err)
	if err == nil && r.ID != "" {
		c.log.InfoContext(ctx, "cloudflare: record created", "name", fqdn, "type", "A", "content", c.ip, "proxied", true, "id", r.ID)
		c.made(ctx, key, record{ID: r.ID, Name: fqdn, CreatedOn: r.CreatedOn})
		return nil
	}
	if err == nil {
		err = fmt.Errorf("cloudflare: create record %s: the answer carried no record ID", fqdn)
	}
	if !unconfirmed(ctx, err) {
		if ctx.Err() == nil {
			c.forget(ctx, Entry{Key: key, Name: fqdn})
		}
		return err
	}
	c.log.WarnContext(ctx, "cloudflare: create not confirmed; looking the name up again", "name", fqdn, "err", c.redact(err.Error()))
	b := c.budgetOf(ctx)
	looks := 0
	for _, pause := range []time.Duration{0, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if pause > 0 {
			if !b.take(pause) {
				break
			}
			c.announce(ctx, pause, "Cloudflare did not confirm the DNS record of "+fqdn+"; looking it up again")
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return err
			case <-t.C:
			}
		}
		looks++
		found, lerr := c.list(ctx, zoneID, fqdn)
		if lerr != nil {
			continue
		}
		entries, lerr := c.ledger.Entries(ctx, fqdn)
		if lerr != nil {
			continue
		}
		for id, e := range claim(found, entries) {
			if e.Key != key {
				continue
			}
			for _, f := range found {
				if f.ID == id {
					c.made(ctx, key, f)
				}
			}
			c.log.InfoContext(ctx, "cloudflare: record found after an unconfirmed create", "name", fqdn, "id", id, "lookups", looks)
			return nil
		}
	}
	return fmt.Errorf("%w; no record appeared at that name in %d lookups (should Cloudflare apply it later, it is recognised as odoobot's, and DeleteRecord or Sweep removes it)", err, looks)
}

// unconfirmed reports whether err leaves open that a create was applied:
// no answer, a 408 or a 5xx, or an answer without a record ID.
func unconfirmed(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var api *APIError
	if errors.As(err, &api) {
		return api.StatusCode == http.StatusRequestTimeout || api.StatusCode >= 500
	}
	return !errors.Is(err, provision.ErrApexGuard)
}

func (c *Client) update(ctx context.Context, zoneID, fqdn string, old record) error {
	var p dns.RecordEditParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.Body = c.aRecord(fqdn)
	if _, err := c.records.Edit(ctx, old.ID, p); err != nil {
		return wrap("update record "+fqdn, dnsPerm, err)
	}
	c.log.InfoContext(ctx, "cloudflare: record updated", "name", fqdn, "id", old.ID,
		"old_content", old.Content, "content", c.ip, "old_proxied", old.Proxied, "proxied", true)
	return nil
}

func (c *Client) remove(ctx context.Context, zoneID string, r record) error {
	var p dns.RecordDeleteParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	_, err := c.records.Delete(ctx, r.ID, p)
	var api *APIError
	if err = wrap("delete record "+r.Name, dnsPerm, err); errors.As(err, &api) && api.StatusCode == http.StatusNotFound {
		c.log.InfoContext(ctx, "cloudflare: record already gone", "name", r.Name, "type", r.Type, "id", r.ID)
		return nil
	}
	if err != nil {
		return err
	}
	c.log.InfoContext(ctx, "cloudflare: record deleted", "name", r.Name, "type", r.Type, "content", r.Content, "id", r.ID)
	return nil
}
