package cloudflare

import (
	"fmt"
	"strings"

	"odoobot/provision"
)

// guard is the apex guard. It returns the label of fqdn when fqdn is
// exactly label + "." + zone, with label a valid lower-case DNS label other
// than www; otherwise an error matching provision.ErrApexGuard. No
// normalisation is done: upper case, a trailing dot or surrounding blanks
// are refused, so that what is checked is byte for byte what would be sent.
func guard(op, fqdn, zone string) (string, error) {
	label, under := strings.CutSuffix(fqdn, "."+zone)
	var reason string
	switch {
	case zone == "":
		reason = "no zone is configured"
	case fqdn == "":
		reason = "the name is empty"
	case fqdn == zone || strings.TrimSuffix(strings.ToLower(fqdn), ".") == zone:
		reason = "that is the zone apex itself"
	case strings.HasSuffix(fqdn, "."):
		reason = "a trailing dot is not accepted; give the name without it"
	case fqdn != strings.ToLower(fqdn):
		reason = "upper case is not accepted"
	case !under:
		reason = fmt.Sprintf("the name is outside the zone %s", zone)
	case strings.Contains(label, "."):
		reason = "the name is more than one label under the zone"
	case label == "www":
		reason = "www is reserved for the zone's own site"
	case !provision.IsLabel(label):
		reason = "the label is not a valid DNS label (lower-case letters, digits, inner hyphens, 1 to 63 characters)"
	case !provision.IsOneLabelUnder(fqdn, zone):
		reason = "the name is not exactly one label under the zone"
	default:
		return label, nil
	}
	return "", fmt.Errorf("cloudflare: %s %q: %w: %s", op, fqdn, provision.ErrApexGuard, reason)
}
