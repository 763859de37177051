package cloudflare

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/dns"

	"odoobot/provision"
)

// Holder says what TakeOver would take at fqdn, changing nothing: the A
// record that odoobot on another server made for the same instance (its
// comment the mark of some server for fqdn's first label), alone at that
// name, while the Ledger holds no live record there. Nothing there, or
// only this server's records: a zero DNSTaken. Any other holder is
// refused, matching provision.ErrNameTakenInDNS. fqdn must pass the apex
// guard.
func (c *Client) Holder(ctx context.Context, fqdn string) (provision.DNSTaken, error) {
	was, err := c.holderOf(c.call(ctx), "look up record", fqdn)
	return was, c.scrub(err)
}

// TakeOver makes this server's the record was (as Holder found it): it
// journals it in the Ledger by its ID, changing nothing at Cloudflare,
// so that EnsureRecord then updates it in place (this server's address
// and mark). The take-over is logged with what the record was. When the
// name no longer holds exactly was, it is refused, matching
// provision.ErrNameTakenInDNS, with nothing changed. A zero was takes
// nothing.
func (c *Client) TakeOver(ctx context.Context, fqdn string, was provision.DNSTaken) error {
	return c.scrub(c.takeOver(c.call(ctx), fqdn, was))
}

func (c *Client) takeOver(ctx context.Context, fqdn string, was provision.DNSTaken) error {
	if was.RecordID == "" {
		return nil
	}
	now, err := c.holderOf(ctx, "take over record", fqdn)
	if err != nil {
		return err
	}
	if now != was {
		return fmt.Errorf("cloudflare: take over record %s: the record changed since it was looked up (now %q, was %s %s): %w; nothing was changed, ask again",
			fqdn, now.Content, was.RecordID, was.Content, provision.ErrNameTakenInDNS)
	}
	if _, err := c.ledger.Journal(ctx, Entry{Name: fqdn, Type: "A", Content: was.Content, RecordID: was.RecordID, Attempted: time.Now().UTC()}); err != nil {
		return fmt.Errorf("cloudflare: take over record %s: journal it in odoobot's state: %w; nothing was changed", fqdn, err)
	}
	c.log.WarnContext(ctx, "cloudflare: record taken over from the server that made it", "name", fqdn, "id", was.RecordID,
		"old_content", was.Content, "old_comment", was.Comment, "server", c.server)
	return nil
}

// holderOf is Holder within a call.
func (c *Client) holderOf(ctx context.Context, action, fqdn string) (provision.DNSTaken, error) {
	_, found, err := c.guardedList(ctx, action, fqdn)
	if err != nil {
		return provision.DNSTaken{}, err
	}
	entries, err := c.ledger.Entries(ctx, fqdn)
	if err != nil {
		return provision.DNSTaken{}, fmt.Errorf("cloudflare: %s %s: read odoobot's records: %w", action, fqdn, err)
	}
	owned := claim(found, entries)
	var theirs []record
	for _, r := range found {
		if _, ok := owned[r.ID]; !ok {
			theirs = append(theirs, r)
		}
	}
	if len(theirs) == 0 {
		return provision.DNSTaken{}, nil
	}
	label, _, _ := strings.Cut(fqdn, ".")
	if len(theirs) != 1 || len(found) != 1 || theirs[0].Type != "A" || !markedFor(theirs[0].Comment, label) {
		var holders []string
		for _, r := range theirs {
			holders = append(holders, c.holder(r))
		}
		return provision.DNSTaken{}, fmt.Errorf("cloudflare: %s %s: only an A record odoobot made for instance %s on another server, alone at that name, is taken over; the name is held by %s, left alone: remove it in Cloudflare first: %w",
			action, fqdn, label, strings.Join(holders, "; "), provision.ErrNameTakenInDNS)
	}
	r := theirs[0]
	return provision.DNSTaken{RecordID: r.ID, Content: r.Content, Comment: r.Comment, Proxied: r.Proxied}, nil
}

// markedFor reports whether comment is odoobot's mark, of any server, for
// the instance label: "managed-by: odoobot server=<id> instance=<label>".
func markedFor(comment, label string) bool {
	rest, ok := strings.CutPrefix(strings.TrimSpace(comment), Marker+" server=")
	if !ok {
		return false
	}
	server, instance, ok := strings.Cut(rest, " instance=")
	return ok && server != "" && !strings.ContainsAny(server, " \t") && instance == label
}

// GiveBack undoes TakeOver: the record was.RecordID, when still there,
// gets back its address, proxying and comment, and its entries leave the
// Ledger, so this server neither changes nor deletes it any more. A zero
// was is not an error, nor is a record gone since (its entries are
// forgotten).
func (c *Client) GiveBack(ctx context.Context, fqdn string, was provision.DNSTaken) error {
	return c.scrub(c.giveBack(c.call(ctx), fqdn, was))
}

func (c *Client) giveBack(ctx context.Context, fqdn string, was provision.DNSTaken) error {
	if was.RecordID == "" {
		return nil
	}
	zoneID, found, err := c.guardedList(ctx, "give back record", fqdn)
	if err != nil {
		return err
	}
	entries, err := c.ledger.Entries(ctx, fqdn)
	if err != nil {
		return fmt.Errorf("cloudflare: give back record %s: read odoobot's records: %w", fqdn, err)
	}
	for _, r := range found {
		if r.ID != was.RecordID {
			continue
		}
		var p dns.RecordEditParams
		p.ZoneID.Value, p.ZoneID.Present = zoneID, true
		a := c.aRecord(fqdn)
		a.Content.Value = was.Content
		a.Proxied.Value = was.Proxied
		a.Comment.Value = was.Comment
		p.Body = a
		if _, err := c.records.Edit(ctx, r.ID, p); err != nil {
			return wrap("give back record "+fqdn, dnsPerm, err)
		}
		c.log.WarnContext(ctx, "cloudflare: record taken over given back", "name", fqdn, "id", r.ID, "content", was.Content)
	}
	for _, e := range entries {
		if e.RecordID == was.RecordID {
			c.forget(ctx, e)
		}
	}
	return nil
}
