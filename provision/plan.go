package provision

// StepName names a step of a creation. The names are what the thread, the
// job record and the creation log show.
type StepName string

// The steps of a creation, in the order DESIGN.md gives. The TLS mode
// decides where the certificate and DNS steps stand.
const (
	StepReserve     StepName = "reserve"     // instance row and ports
	StepRelease     StepName = "release"     // Odoo source + venv, cached
	StepTenant      StepName = "tenant"      // the instance's own system user and PostgreSQL role
	StepDatabase    StepName = "database"    // from the template, or initialised
	StepFiles       StepName = "files"       // directory, odoo.conf, custom_addons
	StepService     StepName = "service"     // systemd unit: write, enable, start
	StepHealth      StepName = "health"      // /web/health on the HTTP port
	StepDNS         StepName = "dns"         // Cloudflare A record
	StepChallenge   StepName = "acme-site"   // plain-HTTP site answering the ACME challenge
	StepCertificate StepName = "certificate" // Origin CA or Let's Encrypt
	StepNginx       StepName = "nginx"       // site: write, test, reload
	StepVerify      StepName = "verify"      // through nginx: Host header and websocket
	StepSummary     StepName = "summary"     // info-instancia.txt, tracking, ready
)

// PlannedStep is one step of a creation plan and what it changes.
type PlannedStep struct {
	Name StepName
	What string
}

// PlanOptions are the facts about the host that shape a plan.
type PlanOptions struct {
	ManagesDNS bool   // a Cloudflare token is configured
	PublicIP   string // the A record's target
	DNS01      bool   // letsencrypt uses DNS-01 (through Cloudflare) rather than HTTP-01
}

// StepNames orders the steps of a creation for a mode. The service step
// starts Odoo and the health step, after the certificate, site and record,
// waits for it: they are made while Odoo starts.
//
//   - cloudflare: the certificate exists before nginx loads a site naming it;
//     the record is created once the site is loaded.
//   - letsencrypt with HTTP-01: the record exists and a plain-HTTP site
//     answers the challenge before the certificate is requested; then the
//     TLS site replaces it.
//   - letsencrypt with DNS-01 and http: no bootstrap site.
func StepNames(mode SSLMode, o PlanOptions) []StepName {
	head := []StepName{StepReserve, StepRelease, StepTenant, StepDatabase, StepFiles, StepService}
	var tail []StepName
	dns := func() {
		if o.ManagesDNS {
			tail = append(tail, StepDNS)
		}
	}
	switch mode {
	case SSLCloudflare:
		tail = append(tail, StepCertificate, StepNginx)
		dns()
	case SSLLetsEncrypt:
		dns()
		if !o.DNS01 {
			tail = append(tail, StepChallenge)
		}
		tail = append(tail, StepCertificate, StepNginx)
	default:
		tail = append(tail, StepNginx)
		dns()
	}
	// Odoo starts while the certificate, the nginx site and the DNS
	// record are made, none of which needs it: the health step waits
	// for it after them.
	return append(append(head, tail...), StepHealth, StepVerify, StepSummary)
}

// Plan is what one job does, as its verb builds it: the kind and the
// instance it works on, the parameters its job records, its steps in
// order, the step from which its change stands (Commit, see
// Task.Commit; "" when every step can be undone) and the log it is
// written to. Recover, when set, ends the job when the process that ran
// it stopped mid-way, deciding from what the job recorded and what the
// host shows (see recoverer); when nil, such a job is rolled back: the
// Undo of every one of its Steps, in reverse, each harmless when its
// Apply never ran (Runner.RollBack).
type Plan struct {
	Kind     JobKind
	Instance Instance
	Params   map[string]string
	Steps    []Step
	Commit   StepName
	LogPath  string
	Recover  recoverer
}

// task is p, ready to run as job.
func (p Plan) task(job Job) *Task {
	return &Task{Job: job, Steps: p.Steps, Commit: p.Commit, LogPath: p.LogPath, Instance: p.Instance}
}
