package provision

import (
	"context"
	"errors"
	"time"
)

// DNS manages the A record of an instance in the zone. Implemented by
// provision/cloudflare. Both methods must refuse, before any request
// leaves, an fqdn that is not exactly one label under the zone
// (IsOneLabelUnder), returning an error matching ErrApexGuard.
type DNS interface {
	// Check tells whether records can be made now (the credentials are
	// accepted and the zone is found), within a short bound; its error
	// says which setting to fix. Asked before a creation is accepted.
	Check(ctx context.Context) error
	// EnsureRecord makes fqdn an A record to the server's public IP,
	// proxied and marked as managed by odoobot. An identical record
	// already there is reused; a different record not ours is refused.
	EnsureRecord(ctx context.Context, fqdn string) error
	// DeleteRecord removes the record if it is ours; a missing record is
	// not an error.
	DeleteRecord(ctx context.Context, fqdn string) error
	// Holder says what TakeOver would take at fqdn, changing nothing:
	// the A record odoobot on another server made for the same instance
	// (its mark names the instance), when it alone holds the name and
	// this server holds no record there. A zero DNSTaken: nothing to
	// take over (no record, or only this server's). Any other holder (a
	// record without odoobot's mark for that instance, another type,
	// several records) is refused with an error matching
	// ErrNameTakenInDNS.
	Holder(ctx context.Context, fqdn string) (DNSTaken, error)
	// TakeOver makes the record was (as Holder found it) this server's,
	// so that EnsureRecord then points it here; it is asked for
	// explicitly (a recovery on a new server after the old one is lost)
	// and logged with what the record was. A name that no longer holds
	// exactly was is refused (ErrNameTakenInDNS), nothing changed; a
	// zero was takes nothing.
	TakeOver(ctx context.Context, fqdn string, was DNSTaken) error
	// GiveBack undoes TakeOver: the record taken over points where it
	// did, with its comment, and is this server's no more. A zero was,
	// or a record gone since, is not an error.
	GiveBack(ctx context.Context, fqdn string, was DNSTaken) error
	// ReportingWaits returns a view of the driver whose calls tell report
	// about each wait before it begins (a rate limit, a retry), with its
	// length and a reason safe to show in chat; report is called from the
	// calling goroutine and must not block. A driver that never waits
	// returns itself.
	ReportingWaits(report func(wait time.Duration, why string)) DNS
}

// DNSTaken is a record odoobot on another server made for an instance,
// as it was when this server took it over (DNS.TakeOver).
type DNSTaken struct {
	RecordID, Content, Comment string
	Proxied                    bool
}

// DNSMarker starts the mark odoobot puts in the comment of the DNS records
// it makes.
const DNSMarker = "managed-by: odoobot"

// DNSMark is the comment of the records odoobot on server makes for the
// instance name: "managed-by: odoobot server=<server> instance=<name>".
// provision/cloudflare writes exactly this.
func DNSMark(server, name string) string {
	return DNSMarker + " server=" + server + " instance=" + name
}

// MaxDNSComment is the longest record comment Cloudflare accepts on its
// Free plan (paid plans take more); NameRules refuses a name whose mark
// is longer.
const MaxDNSComment = 100

// ACMEChallengePrefix is the label before an instance's domain of its
// DNS-01 challenge record.
const ACMEChallengePrefix = "_acme-challenge."

// ShowWaitsFrom is the shortest wait of a DNS driver that a job's thread
// shows: shorter ones pass unseen, longer ones ("Cloudflare asked to wait
// 30s …") would otherwise be silence.
const ShowWaitsFrom = 2 * time.Second

// showingWaits returns the view of dns (DNS.ReportingWaits) that hands
// each wait of ShowWaitsFrom or more to progress, so that the step's line
// in the thread says what it is waiting for; dns itself when progress is
// nil.
func showingWaits(dns DNS, progress func(text string)) DNS {
	if dns == nil || progress == nil {
		return dns
	}
	return dns.ReportingWaits(func(d time.Duration, why string) {
		if d >= ShowWaitsFrom {
			progress(why)
		}
	})
}

// OriginCA issues Cloudflare Origin CA certificates. Implemented by
// provision/cloudflare.
type OriginCA interface {
	// SignOrigin asks for a certificate for the hostnames in csrPEM, valid
	// for days, and returns it PEM-encoded.
	SignOrigin(ctx context.Context, csrPEM []byte, hostnames []string, days int) (certPEM []byte, err error)
}

// ErrApexGuard is returned by a DNS driver that refused a record outside
// the one-label rule: the zone apex, www, a deeper name, or another zone.
var ErrApexGuard = errors.New("dns guard: only one label under the zone may be touched")

// ErrForeignRecord is returned by a DNS driver for a record at the
// instance's name that odoobot did not make: it is never changed.
var ErrForeignRecord = errors.New("a DNS record not managed by odoobot holds that name")

// ErrNameTakenInDNS is returned by a DNS driver when a record it did not
// make (another type, no mark, or another server's mark) already holds an
// instance's name: the creation cannot go on under that name, and the
// driver changed nothing. Errors matching it also match ErrForeignRecord.
var ErrNameTakenInDNS = errors.New("the name is taken in DNS")

// DNSEntry is one DNS record odoobot made, or is about to make, as its
// state keeps it: ownership of a record rests on this, never on the
// record's comment. provision/postgres stores entries;
// provision/cloudflare writes and reads them.
type DNSEntry struct {
	// Key identifies the entry in the state.
	Key int64
	// Name is the record's name (an instance's domain, or the name of its
	// ACME challenge); Type is A or TXT; Content the address or the TXT
	// value, without quotes.
	Name, Type, Content string
	// RecordID is the DNS provider's ID of the record, "" while its
	// create is not confirmed.
	RecordID string
	// Attempted is when the create was journaled, just before it was
	// sent.
	Attempted time.Time
	// CreatedOn is the provider's creation time of the record, when known.
	CreatedOn time.Time
	// Gone is true once the entry is a tombstone: the instance is gone
	// (deleted, or its creation rolled back) and the record is to go.
	Gone bool
}
