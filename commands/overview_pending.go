package commands

import (
	"slices"
	"time"
)

// pending lists, read-only, the confirmations and approvals waiting at
// now, the soonest to expire first; expired ones are left out. Their
// codes are not part of it.
func (d *Dispatcher) pending(now time.Time) []Pending {
	var out []Pending
	d.confirm.mu.Lock()
	for _, p := range d.confirm.pending {
		if now.Before(p.expires) {
			out = append(out, Pending{What: p.what, By: p.userID, Until: p.expires})
		}
	}
	d.confirm.mu.Unlock()
	d.approve.mu.Lock()
	for _, p := range d.approve.pending {
		if now.Before(p.expires) {
			out = append(out, Pending{Approval: true, What: p.what, By: displayName(p.requester), Until: p.expires})
		}
	}
	d.approve.mu.Unlock()
	slices.SortFunc(out, func(a, b Pending) int { return a.Until.Compare(b.Until) })
	return out
}
