package odoo

// BuildCount returns how many builds r has run, so that tests can tell a
// warm Ensure from a rebuild.
func BuildCount(r *Releases) int64 { return r.builds.Load() }
