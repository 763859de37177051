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

// groupsRetry bounds the wait before usergroups.list is tried again
// after a failure (the TTL, when shorter, bounds it too).
const groupsRetry = 30 * time.Second

// groupCache maps each user to the IDs ("S…") of the enabled user groups
// they belong to, from one usergroups.list call (include_users=true) per
// ttl. It needs the usergroups:read scope; without it (or on a free
// workspace, which has no user groups) the call fails, the failure is
// logged, and users get only their user grants, their identity saying
// that their groups are unknown. Memberships are never used older than
// ttl: a failed refresh drops them (fail closed), and the call is tried
// again after at most groupsRetry.
type groupCache struct {
	ttl time.Duration

	fetch sync.Mutex // held during a refresh: one call at a time

	mu       sync.Mutex
	byUser   map[string][]string
	okAt     time.Time // of the last successful call
	failedAt time.Time // of the last failed call
}

// groups returns the user groups of user and whether they are known,
// refreshing the cache when it is older than ttl. When lookups are off
// it returns nil, true; when the groups cannot be looked up (the last
// call failed and memberships older than ttl are not used), nil, false.
func (b *Bot) groups(ctx context.Context, user string) ([]string, bool) {
	c := b.userGroups
	if c == nil {
		return nil, true
	}
	if g, known, fresh := c.lookup(user, time.Now()); fresh {
		return g, known
	}
	c.fetch.Lock()
	defer c.fetch.Unlock()
	// Another caller may have refreshed while this one waited.
	if g, known, fresh := c.lookup(user, time.Now()); fresh {
		return g, known
	}
	list, err := rateLimited(ctx, b, func() ([]slackapi.UserGroup, error) {
		return b.api.GetUserGroupsContext(ctx, slackapi.GetUserGroupsOptionIncludeUsers(true))
	})
	now := time.Now()
	if err != nil {
		b.log.Warn("slack: usergroups.list failed; group grants are not applied until it works (scope usergroups:read?)", "err", b.clean(err.Error()), "retry_in", c.retry())
		if ctx.Err() == nil { // a cancelled request is no reason to wait
			c.mu.Lock()
			c.failedAt = now
			c.mu.Unlock()
		}
		return nil, false
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
	c.byUser, c.okAt = byUser, now
	c.mu.Unlock()
	g, known, _ := c.lookup(user, now)
	return g, known
}

// retry is how long after a failed call the next one waits.
func (c *groupCache) retry() time.Duration { return min(c.ttl, groupsRetry) }

// lookup returns a copy of user's groups, whether they are known, and
// whether that answer holds now (no call is due).
func (c *groupCache) lookup(user string, now time.Time) (groups []string, known, fresh bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.okAt.IsZero() && now.Sub(c.okAt) < c.ttl {
		return slices.Clone(c.byUser[user]), true, true
	}
	c.byUser = nil // expired: never used again
	if !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.retry() {
		return nil, false, true
	}
	return nil, false, false
}
