package cloudflare

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudflare/cloudflare-go/v6/dns"
	"github.com/cloudflare/cloudflare-go/v6/user"
)

// Check verifies, with reads only, what every creation's DNS step will
// need, so that a bad setting is found before a database, a service and a
// site are built: that Cloudflare accepts the API token and finds it
// active (GET /user/tokens/verify), that the token sees the zone
// (CF_ZONE_NAME, and CF_ZONE_ID checked against it when set) and that it
// may read the zone's DNS records. It cannot prove the edit permission
// without a write. An account-owned token, which the user endpoint does
// not know, passes when it reads the zone.
//
// Errors match ErrAuth (the token) or ErrZoneNotFound (the zone) and say
// which setting to fix. A zone found is cached as by ZoneID.
//
// It is asked before a creation opens its thread, so the whole check,
// its three requests and any pause, is bounded by Config.RequestTimeout
// (15 s by default), not CallTimeout: past it, it fails with an error
// matching ErrTimeout.
func (c *Client) Check(ctx context.Context) error {
	return c.scrub(c.check(c.callWithin(ctx, c.requestTimeout, false)))
}

func (c *Client) check(ctx context.Context) error {
	v, verr := c.tokens.Verify(ctx)
	verr = wrap("verify token", "(none: any valid token)", verr)
	switch {
	case verr != nil && !errors.Is(verr, ErrAuth):
		return verr // Cloudflare unreachable or failing: nothing learnt.
	case verr == nil && v.Status != user.TokenVerifyResponseStatusActive:
		return fmt.Errorf("cloudflare: check: the API token (CF_API_TOKEN) is %s, not active: %w", v.Status, ErrAuth)
	}
	c.mu.Lock()
	c.zoneID = "" // look again: a check does not trust an earlier answer.
	c.mu.Unlock()
	zoneID, zerr := c.ZoneID(ctx)
	if zerr != nil {
		var api *APIError
		if verr != nil && errors.As(verr, &api) {
			return fmt.Errorf("cloudflare: check: Cloudflare refuses the API token (CF_API_TOKEN): %s: %w", api.Error(), ErrAuth)
		}
		return fmt.Errorf("cloudflare: check: %w", zerr)
	}
	var p dns.RecordListParams
	p.ZoneID.Value, p.ZoneID.Present = zoneID, true
	p.PerPage.Value, p.PerPage.Present = 5, true
	if _, err := c.records.List(ctx, p); err != nil {
		return fmt.Errorf("cloudflare: check: %w", wrap("list records of zone "+c.zone, dnsPerm, err))
	}
	if verr != nil {
		c.log.InfoContext(ctx, "cloudflare: the token verify endpoint refused the token, yet it reads the zone (an account-owned token?)", "err", verr)
	}
	c.log.InfoContext(ctx, "cloudflare: token and zone checked", "zone", c.zone, "zone_id", zoneID, "server", c.server)
	return nil
}
