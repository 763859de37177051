package provision

import "context"

// OdooRun is one run of a release's Odoo on one database: as whom, where
// and with which configuration.
type OdooRun struct {
	// User is the system user Odoo runs as (the instance's, or the
	// shared service user), with its primary group and no supplementary
	// group.
	User string
	// Dir is the directory it runs in: the instance's.
	Dir string
	// Conf is the odoo.conf it reads; DB the database it works on.
	Conf, DB string
	// MemoryMax, when above 0, bounds the address space of Odoo's
	// process (RLIMIT_AS, bytes), as Odoo's limit_memory_hard bounds
	// each of an instance's workers: past it an allocation fails and
	// the run with it.
	MemoryMax int64
}

// OdooRuns runs a release's own Odoo (odoo-bin) on an instance's
// database, to stop (provision/odoo). Each run is a child process as
// OdooRun.User, with the minimal environment every child gets (never
// odoobot's, which holds secrets), no HTTP server and its log on its
// output, which is read in a bounded buffer and never logged whole.
// Each method returns when Odoo has exited; it gives up when ctx ends or
// after the method's own timeout, whichever comes first, killing Odoo.
// A failure's error says why Odoo failed, from its output (the lines
// that say so, credentials in URLs removed); a user that does not exist
// fails before anything runs.
type OdooRuns interface {
	// Neutralize turns off, in run.DB, what must never run in a copy
	// (mail servers, crons and whatever else the installed modules
	// neutralize: Odoo's own neutralize). It gives up after 10 minutes.
	// It does not check the outcome: the caller reads
	// database.is_neutralized.
	Neutralize(ctx context.Context, rel Release, run OdooRun) error
	// Update updates the named modules of run.DB to the code of rel, or
	// every installed module when none is named, and returns when the
	// update has committed or failed (Odoo rolls a failed update back).
	// It gives up after 30 minutes.
	Update(ctx context.Context, rel Release, run OdooRun, modules ...string) error
	// Open loads run.DB's registry with rel's Odoo and stops (no module
	// installed or updated, no HTTP server): proof that Odoo can open
	// the database. It gives up after 10 minutes.
	Open(ctx context.Context, rel Release, run OdooRun) error
}
