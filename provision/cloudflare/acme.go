package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/dns"

	"odoobot/provision"
)

// ACMEPrefix is the label in front of an instance's domain where the
// TXT record answering its DNS-01 challenge lives.
const ACMEPrefix = "_acme-challenge."

// acmeTTL is the TTL of challenge records, in seconds: short, since they
// live for one validation. 60 is the least Cloudflare accepts on a
// non-Enterprise zone; 120 matches what ACME clients commonly use.
const acmeTTL = 120

// acmeGuard is the apex guard for challenge records: name must be exactly
// ACMEPrefix + an instance domain that passes guard. It returns that
// domain; otherwise an error matching provision.ErrApexGuard.
func acmeGuard(op, name, zone string) (string, error) {
	domain, ok := strings.CutPrefix(name, ACMEPrefix)
	if !ok {
		return "", fmt.Errorf("cloudflare: %s %q: %w: not %s followed by an instance's domain", op, name, provision.ErrApexGuard, ACMEPrefix)
	}
	if _, err := guard(op, domain, zone); err != nil {
		return "", err
	}
	return domain, nil
}

// SetACMEChallenge publishes value (the DNS-01 digest of an ACME key
// authorization) as a TXT record at ACMEPrefix + fqdn, with the comment
// Comment(fqdn) and a TTL of 120 s, not proxied. fqdn is an instance's domain:
// it must pass the apex guard (exactly one label under the zone, not
// www), checked before any request; no other name can be written this
// way. A TXT record of ours (in the Ledger, as for EnsureRecord) with the
// same value already there is kept (no write); other records at that
// name are left alone. The create is journaled in the Ledger before the
// POST; a challenge record left behind is deleted by Sweep after an hour.
func (c *Client) SetACMEChallenge(ctx context.Context, fqdn, value string) error {
	return c.scrub(c.setACMEChallenge(c.call(ctx), fqdn, value))
}

func (c *Client) setACMEChallenge(ctx context.Context, fqdn, value string) error {
	name := ACMEPrefix + fqdn
	if _, err := acmeGuard("set challenge record", name, c.zone); err != nil {
		return err
	}
	if value == "" {
		return fmt.Errorf("cloudflare: set challenge record %s: the value is empty", name)
	}
	if err := c.needLedger("set challenge record " + name); err != nil {
		return err
	}
	zoneID, err := c.ZoneID(ctx)
	if err != nil {
		return err
	}
	found, err := c.list(ctx, zoneID, name)
	if err != nil {
		return err
	}
	entries, err := c.ledger.Entries(ctx, name)
	if err != nil {
		return fmt.Errorf("cloudflare: set challenge record %s: read odoobot's records: %w", name, err)
	}
	owned := claim(found, entries)
	for _, r := range found {
		if e, ok := owned[r.ID]; ok && !e.Gone && r.Type == "TXT" && txtValue(r.Content) == value {
			c.log.InfoContext(ctx, "cloudflare: challenge record already in place", "name", name, "id", r.ID)
			return nil
		}
	}
	key, err := c.ledger.Journal(ctx, Entry{Name: name, Type: "TXT", Content: value, Attempted: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("cloudflare: set challenge record %s: journal the create in odoobot's state: %w; nothing was sent", name, err)
	}
	var t dns.TXTRecordParam
	t.Name.Value, t.Name.Present = name, true
	t.Type.Value, t.Type.Present = dns.TXTRecordTypeTXT, true
	t.Content.Value, t.Content.Present = `"`+value+`"`, true
	t.TTL.Value, t.TTL.Present = acmeTTL, true
	t.Proxied.Value, t.Proxied.Present = false, true
	t.Comment.Value, t.Comment.Present = c.Comment(fqdn), true
	var p dns.RecordNewParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.Body = t
	r, err := c.records.New(ctx, p)
	if err = wrap("create challenge record "+name, dnsPerm, err); err != nil {
		if !unconfirmed(ctx, err) && ctx.Err() == nil {
			c.forget(ctx, Entry{Key: key, Name: name})
		}
		return err
	}
	c.made(ctx, key, record{ID: r.ID, Name: name, CreatedOn: r.CreatedOn})
	c.log.InfoContext(ctx, "cloudflare: challenge record created", "name", name, "type", "TXT", "id", r.ID)
	return nil
}

// ClearACMEChallenge deletes the TXT records of ours at ACMEPrefix + fqdn
// whose value is value. None there is not an error; records the Ledger
// does not hold, of another type or with another value are left in
// place. fqdn must pass the apex guard, checked before any request.
func (c *Client) ClearACMEChallenge(ctx context.Context, fqdn, value string) error {
	return c.scrub(c.clearACMEChallenge(c.call(ctx), fqdn, value))
}

func (c *Client) clearACMEChallenge(ctx context.Context, fqdn, value string) error {
	name := ACMEPrefix + fqdn
	if _, err := acmeGuard("clear challenge record", name, c.zone); err != nil {
		return err
	}
	if err := c.needLedger("clear challenge record " + name); err != nil {
		return err
	}
	zoneID, err := c.ZoneID(ctx)
	if err != nil {
		return err
	}
	found, err := c.list(ctx, zoneID, name)
	if err != nil {
		return err
	}
	entries, err := c.ledger.Entries(ctx, name)
	if err != nil {
		return fmt.Errorf("cloudflare: clear challenge record %s: read odoobot's records: %w", name, err)
	}
	owned := claim(found, entries)
	var errs []error
	n := 0
	for _, r := range found {
		if e, ok := owned[r.ID]; ok && r.Type == "TXT" && txtValue(r.Content) == value {
			errs = append(errs, c.removeOwned(ctx, zoneID, r, e))
			n++
		}
	}
	c.forgetVanished(ctx, slices.DeleteFunc(entries, func(e Entry) bool { return e.Content != value }), found)
	if n == 0 {
		c.log.InfoContext(ctx, "cloudflare: no challenge record to delete", "name", name)
	}
	return errors.Join(errs...)
}

// txtValue is a TXT record's content without the quotes Cloudflare keeps
// around its character strings (joined when it split a long one).
func txtValue(content string) string {
	s := strings.TrimSpace(content)
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	var b strings.Builder
	for _, part := range strings.Split(s, `" "`) {
		b.WriteString(strings.Trim(part, `"`))
	}
	return b.String()
}
