package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cloudflare/cloudflare-go/v6/dns"

	"odoobot/provision"
)

// Sweep removes the records this server made for instances it no longer
// has: orphans of a create whose answer was lost and that Cloudflare
// applied late, or of a delete interrupted half-way. It is meant to run
// at start-up, before any creation, and may run again at any time.
//
// A record is swept only when its comment is exactly Comment(d), with
// d = <label>.<zone>, its name is d (an A record) or ACMEPrefix+d (a TXT
// challenge record), both pass the apex guard, and keep(d) is false. keep
// receives instance domains such as acme.example.com; it must be true for
// every instance the server has, including one being created or deleted
// right now. Records with the bare Marker of earlier versions, another
// server's mark or no mark are never swept: nothing proves they are
// this server's.
//
// It returns what it removed ("A acme.example.com"), and the errors of
// the deletes that failed, joined; a listing that fails removes nothing.
func (c *Client) Sweep(ctx context.Context, keep func(fqdn string) bool) (removed []string, err error) {
	removed, err = c.sweep(c.longCall(ctx), keep)
	return removed, c.scrub(err)
}

func (c *Client) sweep(ctx context.Context, keep func(string) bool) ([]string, error) {
	if keep == nil {
		return nil, errors.New("cloudflare: sweep: no keep function: refusing to judge every record an orphan")
	}
	zoneID, err := c.ZoneID(ctx)
	if err != nil {
		return nil, err
	}
	prefix := Marker + " server=" + c.server + " instance="
	var p dns.RecordListParams
	p.Comment.Value.Startswith.Value, p.Comment.Value.Startswith.Present = prefix, true
	p.Comment.Present = true
	found, err := c.listAll(ctx, zoneID, p)
	if err != nil {
		return nil, wrap("sweep: list records marked by server "+c.server, dnsPerm, err)
	}
	var removed []string
	var errs []error
	for _, r := range found {
		label, ok := strings.CutPrefix(r.Comment, prefix)
		if !ok || !provision.IsLabel(label) {
			continue // another server whose ID starts like ours, or no label.
		}
		domain := label + "." + c.zone
		var gerr error
		switch r.Type {
		case "A":
			if r.Name != domain {
				continue
			}
			_, gerr = guard("sweep", r.Name, c.zone)
		case "TXT":
			if r.Name != ACMEPrefix+domain {
				continue
			}
			_, gerr = acmeGuard("sweep", r.Name, c.zone)
		default:
			continue
		}
		if gerr != nil || !c.mine(r, domain) || keep(domain) {
			continue
		}
		if err := c.remove(ctx, zoneID, r); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.Type+" "+r.Name)
	}
	c.log.InfoContext(ctx, "cloudflare: sweep done", "server", c.server, "marked", len(found), "removed", removed)
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("cloudflare: sweep: %w", err)
	}
	return removed, nil
}
