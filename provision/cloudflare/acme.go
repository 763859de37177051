package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
// way. A TXT record of ours with the same value already there is kept
// (no write); other records at that name are left alone.
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
	zoneID, err := c.ZoneID(ctx)
	if err != nil {
		return err
	}
	found, err := c.list(ctx, zoneID, name)
	if err != nil {
		return err
	}
	for _, r := range found {
		if r.Type == "TXT" && c.mine(r, fqdn) && txtValue(r.Content) == value {
			c.log.InfoContext(ctx, "cloudflare: challenge record already in place", "name", name, "id", r.ID)
			return nil
		}
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
	if err != nil {
		return wrap("create challenge record "+name, dnsPerm, err)
	}
	c.log.InfoContext(ctx, "cloudflare: challenge record created", "name", name, "type", "TXT", "id", r.ID)
	return nil
}

// ClearACMEChallenge deletes the TXT records of ours at ACMEPrefix + fqdn
// whose value is value. None there is not an error; records without the
// comment Comment(fqdn), of another type or with another value are left
// in place. fqdn must pass the apex guard, checked before any request.
func (c *Client) ClearACMEChallenge(ctx context.Context, fqdn, value string) error {
	return c.scrub(c.clearACMEChallenge(c.call(ctx), fqdn, value))
}

func (c *Client) clearACMEChallenge(ctx context.Context, fqdn, value string) error {
	name := ACMEPrefix + fqdn
	if _, err := acmeGuard("clear challenge record", name, c.zone); err != nil {
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
	var errs []error
	n := 0
	for _, r := range found {
		if r.Type == "TXT" && c.mine(r, fqdn) && txtValue(r.Content) == value {
			errs = append(errs, c.remove(ctx, zoneID, r))
			n++
		}
	}
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
