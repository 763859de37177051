package nginx

import "odoobot/provision"

var _ provision.SiteManager = (*Sites)(nil)
