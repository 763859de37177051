package slack

import (
	"context"
	"slices"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"odoobot/commands"
)

// DefaultGroupsTTL is how long the user-group memberships are used
// after the usergroups.list call that fetched them.
const DefaultGroupsTTL = 5 * time.Minute

// groupsRetry bounds the wait before usergroups.list is tried again
// after a failure (the TTL, when shorter, bounds it too).
const groupsRetry = 30 * time.Second

// groupsCallTimeout bounds one usergroups.list call.
const groupsCallTimeout = 30 * time.Second

// groupCache maps each user to the IDs ("S…") of the enabled user groups
// they belong to, from one usergroups.list call (include_users=true). It
// needs the usergroups:read scope; without it (or on a free workspace,
// which has no user groups) the call fails, the failure is logged, and
// users get only their user grants, their identity saying that their
// groups are unknown.
//
// Staleness is bounded: memberships are never used longer than ttl
// after the call that fetched them (a failed refresh drops them: fail
// closed; the call is tried again after at most groupsRetry). From half
// the ttl on, a use starts a refresh in the background and is answered
// from the cache at once, so that a steady flow of commands never waits
// for Slack. Only a caller that finds no usable memberships waits, for
// the one call under way (never a second one), as long as its context
// lasts. The calls run on the cache's own context (the Bot's session),
// never a request's.
type groupCache struct {
	ttl time.Duration

	mu       sync.Mutex
	byUser   map[string][]string
	okAt     time.Time     // of the last successful call
	failedAt time.Time     // of the last failed call
	inflight chan struct{} // closed when the call under way ends; nil when none
}

// groups returns the user groups of user and whether they are known.
// When lookups are off, or needed says that the user's groups cannot
// change their role in channel, it returns nil, true without looking
// anything up; when the groups cannot be looked up (the last call failed
// and memberships older than ttl are not used), nil, false.
func (b *Bot) groups(ctx context.Context, user, channel string) ([]string, bool) {
	c := b.userGroups
	if c == nil {
		return nil, true
	}
	if f := b.cfg.GroupsMatter; f != nil && !f(commands.Identity{Platform: commands.PlatformSlack, UserID: user}, channel) {
		return nil, true
	}
	for {
		now := time.Now()
		c.mu.Lock()
		switch {
		case !c.okAt.IsZero() && now.Sub(c.okAt) < c.ttl:
			g := slices.Clone(c.byUser[user])
			if now.Sub(c.okAt) >= c.ttl/2 && (c.failedAt.IsZero() || now.Sub(c.failedAt) >= c.retry()) {
				b.refreshGroups()
			}
			c.mu.Unlock()
			return g, true
		case !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.retry():
			c.byUser = nil // expired: never used again
			c.mu.Unlock()
			return nil, false
		}
		c.byUser = nil
		wait := b.refreshGroups()
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false
		}
		c.mu.Lock()
		failed := c.failedAt.After(now) && !c.okAt.After(now)
		c.mu.Unlock()
		if failed {
			return nil, false
		}
	}
}

// refreshGroups, called with the cache's mu held, starts a
// usergroups.list call in the background unless one is under way, and
// returns the channel closed when that call ends.
func (b *Bot) refreshGroups() <-chan struct{} {
	c := b.userGroups
	if c.inflight != nil {
		return c.inflight
	}
	done := make(chan struct{})
	c.inflight = done
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), groupsCallTimeout)
		defer cancel()
		byUser, err := b.fetchGroups(ctx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.inflight = nil
		if err != nil {
			b.log.Warn("slack: usergroups.list failed; group grants are not applied until it works (scope usergroups:read?)", "err", b.clean(err.Error()), "retry_in", c.retry())
			c.failedAt = time.Now()
			return
		}
		c.byUser, c.okAt = byUser, time.Now()
	}()
	return done
}

// fetchGroups is one usergroups.list call: each user's enabled groups,
// sorted.
func (b *Bot) fetchGroups(ctx context.Context) (map[string][]string, error) {
	list, err := rateLimited(ctx, b, func() ([]slackapi.UserGroup, error) {
		return b.api.GetUserGroupsContext(ctx, slackapi.GetUserGroupsOptionIncludeUsers(true))
	})
	if err != nil {
		return nil, err
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
	return byUser, nil
}

// retry is how long after a failed call the next one waits.
func (c *groupCache) retry() time.Duration { return min(c.ttl, groupsRetry) }
