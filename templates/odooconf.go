package templates

import (
	"regexp"
	"strconv"
	"strings"
)

// Defaults of OdooConf: a zero field takes these values. The memory and
// time limits are Odoo's own defaults.
const (
	DefaultWorkers         = 2 // > 0 so Odoo runs prefork with its separate gevent (websocket) worker
	DefaultMaxCronThreads  = 1
	DefaultLimitMemorySoft = 2048 << 20 // bytes
	DefaultLimitMemoryHard = 2560 << 20 // bytes
	DefaultLimitTimeCPU    = 60         // seconds
	DefaultLimitTimeReal   = 120        // seconds
	DefaultLimitRequest    = 65536
	DefaultLogLevel        = "info"
)

// OdooConf is the content of an instance's odoo.conf. Odoo listens on
// 127.0.0.1 only, behind nginx (proxy_mode), serves exactly one database
// (dbfilter ^<DBName>$, list_db off), and takes its websocket port under
// the key its series reads (SeriesOf(Version).WebsocketOption): gevent_port
// from 17.0, longpolling_port for 16.0. The other key is never written,
// since Odoo ignores it and every instance would then fight for 8072.
//
// Nothing is written as False: an unset db_host, db_port or db_password
// is left out (Odoo 19 warns about False there), and every directory in
// addons_path holds modules (Odoo 19 warns about one that does not).
//
// Every string must fit on one line; Render refuses a line break rather
// than let a value add keys. A zero numeric field takes its Default*.
type OdooConf struct {
	// Version is the Odoo series the instance runs ("16.0" … "19.0");
	// "" is the newest.
	Version string

	HTTPPort   int // http_port; required
	GeventPort int // gevent_port (websocket); required

	DBHost     string // db_host; "" leaves it out (local Unix socket)
	DBPort     int    // db_port; 0 leaves it out (PostgreSQL's default)
	DBUser     string // db_user; required
	DBPassword string // db_password; "" leaves it out (peer or trust authentication)
	DBName     string // db_name and dbfilter; required, Odoo's pattern [A-Za-z0-9][A-Za-z0-9_.-]+

	Workers         int   // workers; 0 means DefaultWorkers
	MaxCronThreads  int   // max_cron_threads; 0 means DefaultMaxCronThreads
	LimitMemorySoft int64 // limit_memory_soft, bytes; 0 means DefaultLimitMemorySoft
	LimitMemoryHard int64 // limit_memory_hard, bytes; 0 means DefaultLimitMemoryHard
	LimitTimeCPU    int   // limit_time_cpu, seconds; 0 means DefaultLimitTimeCPU
	LimitTimeReal   int   // limit_time_real, seconds; 0 means DefaultLimitTimeReal
	LimitRequest    int   // limit_request; 0 means DefaultLimitRequest

	// AdminPasswd is the master password (admin_passwd), a random value
	// chosen by the caller; required. It is the reason odoo.conf is
	// written with mode 0640.
	AdminPasswd string

	// addons_path is OdooAddons, then EnterpriseAddons if set, then
	// CustomAddons unless OmitCustomAddons, comma-joined. Each is an
	// absolute path.
	OdooAddons       []string // the release's addons directories; at least one
	EnterpriseAddons string   // the enterprise addons; "" when not configured
	CustomAddons     string   // the instance's custom_addons; required
	// OmitCustomAddons leaves CustomAddons out of addons_path, for a
	// custom_addons that holds no module yet: Odoo skips such a directory
	// with a warning at every start. A comment in odoo.conf names it.
	OmitCustomAddons bool

	// Unaccent writes unaccent = True: searches ignore accents, through
	// the unaccent extension the database must have.
	Unaccent bool

	DataDir  string // data_dir (filestore, sessions); required
	LogFile  string // logfile; required
	LogLevel string // log_level; "" means DefaultLogLevel
}

// withDefaults returns c with every zero numeric field set to its default.
func (c OdooConf) withDefaults() OdooConf {
	def := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	def64 := func(p *int64, d int64) {
		if *p == 0 {
			*p = d
		}
	}
	def(&c.Workers, DefaultWorkers)
	def(&c.MaxCronThreads, DefaultMaxCronThreads)
	def64(&c.LimitMemorySoft, DefaultLimitMemorySoft)
	def64(&c.LimitMemoryHard, DefaultLimitMemoryHard)
	def(&c.LimitTimeCPU, DefaultLimitTimeCPU)
	def(&c.LimitTimeReal, DefaultLimitTimeReal)
	def(&c.LimitRequest, DefaultLimitRequest)
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	return c
}

// MemoryMax is the systemd MemoryMax, in bytes, for an instance running
// with c (defaults applied):
//
//	(Workers + MaxCronThreads + 2) × LimitMemoryHard
//
// one limit_memory_hard for each HTTP worker and each cron worker, one for
// the gevent (websocket) worker, and one for the main prefork process.
// Odoo recycles a worker that passes limit_memory_hard, so the cgroup limit
// only stops an instance whose processes all misbehave at once.
func (c OdooConf) MemoryMax() int64 {
	c = c.withDefaults()
	return int64(c.Workers+c.MaxCronThreads+2) * c.LimitMemoryHard
}

// dbNamePattern is Odoo's own rule for database names (odoo.service.db).
var dbNamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Series is what differs between the Odoo series odoobot runs, 16.0 to
// 19.0: the one place that knows. Build it with SeriesOf.
type Series struct {
	// Major is the series' major version, e.g. 19.
	Major int
}

// NewestSeries is the series assumed when a version is unknown.
const NewestSeries = 19

// SeriesOf returns the series of version ("17.0", "saas~18.2", "19.0+e"):
// its leading number. "" or a version without one is NewestSeries.
func SeriesOf(version string) Series {
	v := strings.TrimPrefix(strings.TrimSpace(version), "saas~")
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	major, err := strconv.Atoi(v[:end])
	if err != nil || major == 0 {
		major = NewestSeries
	}
	return Series{Major: major}
}

// WebsocketOption is the odoo.conf key of the websocket (gevent) port:
// longpolling_port up to 16.0, gevent_port from 17.0 (19.0 no longer
// knows longpolling_port).
func (s Series) WebsocketOption() string {
	if s.Major <= 16 {
		return "longpolling_port"
	}
	return "gevent_port"
}

// DemoArgs are the odoo-bin arguments that make an -i run load demo data
// when demo is set and skip it otherwise. Up to 18.0 demo data is loaded
// unless --without-demo=all; from 19.0 it is loaded only with --with-demo
// (and --without-demo takes a boolean: "all" logs a warning).
func (s Series) DemoArgs(demo bool) []string {
	switch {
	case s.Major >= 19 && demo:
		return []string{"--with-demo"}
	case s.Major < 19 && !demo:
		return []string{"--without-demo=all"}
	}
	return nil
}

// odooConfView is what odoo.conf.tmpl sees.
type odooConfView struct {
	OdooConf
	WebsocketOption  string
	DBPortValue      string
	DBFilter         string
	AddonsPath       string
	CustomAddonsNote string // set when CustomAddons is left out of addons_path
}

// OdooConf renders odoo.conf. It fails, wrapping ErrInvalid, on a missing
// required field, a bad port or path, a negative limit, a database name
// outside Odoo's pattern, or any string holding a line break or starting
// or ending with a space (Odoo's config parser would strip it).
func (s *Set) OdooConf(c OdooConf) ([]byte, error) {
	f := &fieldErrors{what: "odoo.conf"}
	c = c.withDefaults()
	f.port("HTTPPort", c.HTTPPort)
	f.port("GeventPort", c.GeventPort)
	if c.HTTPPort == c.GeventPort {
		f.add("GeventPort", "%d is also the HTTP port", c.GeventPort)
	}
	if c.DBPort != 0 {
		f.port("DBPort", c.DBPort)
	}
	for _, v := range []struct{ field, v string }{
		{"DBHost", c.DBHost}, {"DBUser", c.DBUser}, {"DBPassword", c.DBPassword},
		{"AdminPasswd", c.AdminPasswd}, {"LogLevel", c.LogLevel},
	} {
		if f.line(v.field, v.v) && strings.TrimSpace(v.v) != v.v {
			f.add(v.field, "starts or ends with a space")
		}
	}
	if c.DBUser == "" {
		f.add("DBUser", "is required")
	}
	if c.AdminPasswd == "" {
		f.add("AdminPasswd", "is required")
	}
	if !dbNamePattern.MatchString(c.DBName) {
		f.add("DBName", "%q is not a database name Odoo accepts ([A-Za-z0-9][A-Za-z0-9_.-]+)", c.DBName)
	}
	for _, n := range []struct {
		field string
		v     int64
	}{
		{"Workers", int64(c.Workers)}, {"MaxCronThreads", int64(c.MaxCronThreads)},
		{"LimitMemorySoft", c.LimitMemorySoft}, {"LimitMemoryHard", c.LimitMemoryHard},
		{"LimitTimeCPU", int64(c.LimitTimeCPU)}, {"LimitTimeReal", int64(c.LimitTimeReal)},
		{"LimitRequest", int64(c.LimitRequest)},
	} {
		f.nonNegative(n.field, n.v)
	}
	if c.LimitMemorySoft > c.LimitMemoryHard {
		f.add("LimitMemorySoft", "%d is above LimitMemoryHard %d", c.LimitMemorySoft, c.LimitMemoryHard)
	}
	if len(c.OdooAddons) == 0 {
		f.add("OdooAddons", "is required")
	}
	addons := append([]string(nil), c.OdooAddons...)
	for i, p := range c.OdooAddons {
		f.path("OdooAddons["+strconv.Itoa(i)+"]", p)
	}
	if c.EnterpriseAddons != "" {
		f.path("EnterpriseAddons", c.EnterpriseAddons)
		addons = append(addons, c.EnterpriseAddons)
	}
	f.path("CustomAddons", c.CustomAddons)
	if !c.OmitCustomAddons {
		addons = append(addons, c.CustomAddons)
	}
	f.path("DataDir", c.DataDir)
	f.path("LogFile", c.LogFile)
	if err := f.err(); err != nil {
		return nil, err
	}

	v := odooConfView{
		OdooConf:        c,
		WebsocketOption: SeriesOf(c.Version).WebsocketOption(),
		DBFilter:        "^" + regexp.QuoteMeta(c.DBName) + "$",
		AddonsPath:      strings.Join(addons, ","),
	}
	if c.DBPort != 0 {
		v.DBPortValue = strconv.Itoa(c.DBPort)
	}
	if c.OmitCustomAddons {
		v.CustomAddonsNote = c.CustomAddons
	}
	return s.render("odoo.conf", tmplOdooConf, v)
}
