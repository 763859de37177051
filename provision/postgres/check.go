package postgres

import "odoobot/provision"

var (
	_ provision.Store          = (*Store)(nil)
	_ provision.InstanceLookup = (*Store)(nil)
)
