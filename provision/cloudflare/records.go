package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/dns"
)

const dnsPerm = "Zone.DNS edit"

// record is what this package reads of a DNS record.
type record struct {
	ID, Type, Name, Content, Comment string
	Proxied                          bool
	TTL                              float64
}

func (r record) ours() bool { return strings.TrimSpace(r.Comment) == Marker }

// EnsureRecord makes fqdn an A record to the configured public IP, proxied,
// with TTL 1. The TTL is "automatic": Cloudflare forces it on every proxied
// record, so no other value would stick. The record carries the Marker
// comment.
//
// It is idempotent: a record of ours that already matches is left alone
// (no write); a record of ours that differs (another IP, not proxied) is
// updated in place, and extra A records of ours at that name are removed. A
// record at that name without the Marker, or of another type (CNAME, AAAA,
// TXT …), is never touched: the call fails with ErrForeignRecord and tells
// the operator to remove it or choose another name.
//
// fqdn must pass the apex guard (see the package doc), checked before any
// request.
func (c *Client) EnsureRecord(ctx context.Context, fqdn string) error {
	return c.scrub(c.ensureRecord(ctx, fqdn))
}

func (c *Client) ensureRecord(ctx context.Context, fqdn string) error {
	zoneID, found, err := c.guardedList(ctx, "ensure record", fqdn)
	if err != nil {
		return err
	}
	var mine []record
	var foreign []string
	for _, r := range found {
		switch {
		case r.Type != "A":
			foreign = append(foreign, r.Type)
		case !r.ours():
			foreign = append(foreign, "A (without the comment "+Marker+")")
		default:
			mine = append(mine, r)
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("cloudflare: ensure record %s: %w (%s); remove it in Cloudflare or choose another name",
			fqdn, ErrForeignRecord, strings.Join(foreign, ", "))
	}
	if len(mine) == 0 {
		return c.create(ctx, zoneID, fqdn)
	}
	keep, extra := mine[0], mine[1:]
	var errs []error
	for _, r := range extra {
		errs = append(errs, c.remove(ctx, zoneID, r))
	}
	if keep.Content == c.ip && keep.Proxied && keep.TTL == float64(dns.TTL1) {
		c.log.InfoContext(ctx, "cloudflare: record already in place", "name", fqdn, "content", c.ip, "id", keep.ID)
		return errors.Join(errs...)
	}
	return errors.Join(append(errs, c.update(ctx, zoneID, fqdn, keep))...)
}

// guardedList checks fqdn against the apex guard, before any request,
// and lists the records at exactly that name.
func (c *Client) guardedList(ctx context.Context, action, fqdn string) (zoneID string, found []record, err error) {
	if _, err := guard(action, fqdn, c.zone); err != nil {
		return "", nil, err
	}
	if zoneID, err = c.ZoneID(ctx); err != nil {
		return "", nil, err
	}
	found, err = c.list(ctx, zoneID, fqdn)
	return zoneID, found, err
}

// DeleteRecord removes the records at exactly fqdn that carry the Marker.
// No record there is not an error. Records without the Marker are left in
// place and reported with an error matching ErrForeignRecord (after ours,
// if any, are deleted). fqdn must pass the apex guard.
func (c *Client) DeleteRecord(ctx context.Context, fqdn string) error {
	return c.scrub(c.deleteRecord(ctx, fqdn))
}

func (c *Client) deleteRecord(ctx context.Context, fqdn string) error {
	zoneID, found, err := c.guardedList(ctx, "delete record", fqdn)
	if err != nil {
		return err
	}
	var errs []error
	var foreign []string
	for _, r := range found {
		if !r.ours() {
			foreign = append(foreign, r.Type)
			continue
		}
		errs = append(errs, c.remove(ctx, zoneID, r))
	}
	if len(foreign) > 0 {
		errs = append(errs, fmt.Errorf("cloudflare: delete record %s: %w (%s): left in place; remove it in Cloudflare if it should go",
			fqdn, ErrForeignRecord, strings.Join(foreign, ", ")))
	}
	if len(found) == 0 {
		c.log.InfoContext(ctx, "cloudflare: no record to delete", "name", fqdn)
	}
	return errors.Join(errs...)
}

// list returns every record, of any type, whose name is exactly fqdn.
func (c *Client) list(ctx context.Context, zoneID, fqdn string) ([]record, error) {
	var p dns.RecordListParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.Name.Value.Exact.Value, p.Name.Value.Exact.Present = fqdn, true
	p.Name.Present = true
	p.PerPage.Value, p.PerPage.Present = 100, true
	page, err := c.records.List(ctx, p)
	if err != nil {
		return nil, wrap("list records "+fqdn, dnsPerm, err)
	}
	var out []record
	for _, r := range page.Result {
		if !strings.EqualFold(strings.TrimSuffix(r.Name, "."), fqdn) {
			continue // the API filtered loosely: never act on another name.
		}
		out = append(out, record{
			ID: r.ID, Type: string(r.Type), Name: r.Name, Content: r.Content,
			Comment: r.Comment, Proxied: r.Proxied, TTL: float64(r.TTL),
		})
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
	a.Comment.Value, a.Comment.Present = Marker, true
	return a
}

func (c *Client) create(ctx context.Context, zoneID, fqdn string) error {
	var p dns.RecordNewParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.Body = c.aRecord(fqdn)
	r, err := c.records.New(ctx, p)
	if err != nil {
		return wrap("create record "+fqdn, dnsPerm, err)
	}
	c.log.InfoContext(ctx, "cloudflare: record created", "name", fqdn, "type", "A", "content", c.ip, "proxied", true, "id", r.ID)
	return nil
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
	if _, err := c.records.Delete(ctx, r.ID, p); err != nil {
		return wrap("delete record "+r.Name, dnsPerm, err)
	}
	c.log.InfoContext(ctx, "cloudflare: record deleted", "name", r.Name, "type", r.Type, "content", r.Content, "id", r.ID)
	return nil
}
