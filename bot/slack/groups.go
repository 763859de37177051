package slack

import (
	"context"
	"slices"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"
)

// DefaultGroupsTTL is how long the user-group memberships are kept before
// usergroups.list is called again.
const DefaultGroupsTTL = 5 * time.Minute

// groupCache maps each user to the IDs ("S…") of the enabled user groups
// they belong to, from one usergroups.list call (include_users=true) per
// ttl. It needs the usergroups:read scope; without it (or on a free
// workspace, which has no user groups) the call fails, the failure is
// logged at most once per ttl, and users get only their user grants.
type groupCache struct {
	ttl time.Duration

	fetch sync.Mutex // held during a refresh: one call at a time

	mu      sync.Mutex
	byUser  map[string][]string
	fetched time.Time // of the last attempt, successful or not
}

// groups returns the user groups of user, refreshing the cache when it is
// older than ttl. On a failed refresh it keeps the last known memberships.
// It returns nil when lookups are off.
func (b *Bot) groups(ctx context.Context, user string) []string {
	c := b.userGroups
	if c == nil {
		return nil
	}
	if g, fresh := c.lookup(user, time.Now()); fresh {
		return g
	}
	c.fetch.Lock()
	defer c.fetch.Unlock()
	// Another caller may have refreshed while this one waited.
	if g, fresh := c.lookup(user, time.Now()); fresh {
		return g
	}
	list, err := rateLimited(ctx, b, func() ([]slackapi.UserGroup, error) {
		return b.api.GetUserGroupsContext(ctx, slackapi.GetUserGroupsOptionIncludeUsers(true))
	})
	now := time.Now()
	if err != nil {
		b.log.Warn("slack: usergroups.list failed; group grants are not applied until it works (scope usergroups:read?)", "err", b.clean(err.Error()), "retry_in", c.ttl)
		if ctx.Err() == nil { // a cancelled request is no reason to wait a ttl
			c.mu.Lock()
			c.fetched = now
			c.mu.Unlock()
		}
		g, _ := c.lookup(user, now)
		return g
	}
	byUser := map[string][]string{}
	for _, ug := range list {
		if ug.DateDelete != 0 {
			continue // disabled
		}
		for _, u := range ug.Users {
			byUser[u] = append(byUser[u], ug.ID)
		}
	}
	for _, g := range byUser {
		slices.Sort(g)
	}
	c.mu.Lock()
	c.byUser, c.fetched = byUser, now
	c.mu.Unlock()
	g, _ := c.lookup(user, now)
	return g
}

// lookup returns a copy of user's groups and whether the cache is fresh.
func (c *groupCache) lookup(user string, now time.Time) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := !c.fetched.IsZero() && now.Sub(c.fetched) < c.ttl
	return slices.Clone(c.byUser[user]), fresh
}
