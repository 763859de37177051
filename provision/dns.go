package provision

import (
	"context"
	"errors"
)

// DNS manages the A record of an instance in the zone. Implemented by
// provision/cloudflare. Both methods must refuse, before any request
// leaves, an fqdn that is not exactly one label under the zone
// (IsOneLabelUnder), returning an error matching ErrApexGuard.
type DNS interface {
	// EnsureRecord makes fqdn an A record to the server's public IP,
	// proxied and marked as managed by odoobot. An identical record
	// already there is reused; a different record not ours is refused.
	EnsureRecord(ctx context.Context, fqdn string) error
	// DeleteRecord removes the record if it is ours; a missing record is
	// not an error.
	DeleteRecord(ctx context.Context, fqdn string) error
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
