package templates

import (
	"strings"
	"time"
)

// Info is the content of info-instancia.txt, the instance's identity card
// that chat shows as the final summary of a creation. It has no secret
// and no field for one: the master password stays in odoo.conf (mode
// 0640), and the file says so.
type Info struct {
	Name     string // acme; required
	Internal string // prod-acme; required
	Domain   string // acme.example.com; required
	Mode     string // ModeCloudflare, ModeLetsEncrypt or ModeHTTP; decides the URL's scheme
	Database string // required

	HTTPPort   int // required
	GeventPort int // required

	Service     string // odoo19e-prod-acme.service; required
	Dir         string // the instance directory; required
	Conf        string // odoo.conf; required
	Log         string // odoo.log; required
	OdooVersion string // e.g. "19.0 enterprise"; required

	// Release is the release the instance runs, "repository@commit";
	// Python the interpreter its venv was made from; Deps where its Python
	// dependencies come from ("debian" or "pip"). Each "" shows
	// "unknown": an instance imported from API-DEV, or made before
	// releases were recorded.
	Release, Python, Deps string

	CreatedAt time.Time // rendered as RFC 3339 in UTC; required
	CreatedBy string    // who asked, as chat or the CLI names them; required
}

// infoView is what info.txt.tmpl sees.
type infoView struct {
	Info
	Underline string
	URL       string
	Encrypted bool
	Created   string
	// What the release lines show: the Info's, or "unknown".
	ReleaseText, PythonText, DepsText string
}

// orUnknown is v, or "unknown" when v is empty.
func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// Info renders info-instancia.txt. It fails, wrapping ErrInvalid, on an
// unknown mode, a missing field, a bad port or path, or a line break in
// any string.
func (s *Set) Info(i Info) ([]byte, error) {
	f := &fieldErrors{what: "info-instancia.txt"}
	f.name("Name", i.Name)
	f.name("Internal", i.Internal)
	f.domain("Domain", i.Domain)
	scheme := "https"
	switch i.Mode {
	case ModeCloudflare, ModeLetsEncrypt:
	case ModeHTTP:
		scheme = "http"
	default:
		f.add("Mode", "%q is not cloudflare, letsencrypt or http", i.Mode)
	}
	f.required("Database", i.Database)
	f.port("HTTPPort", i.HTTPPort)
	f.port("GeventPort", i.GeventPort)
	f.required("Service", i.Service)
	f.path("Dir", i.Dir)
	f.path("Conf", i.Conf)
	f.path("Log", i.Log)
	f.required("OdooVersion", i.OdooVersion)
	f.required("CreatedBy", i.CreatedBy)
	f.line("Release", i.Release)
	f.line("Python", i.Python)
	f.line("Deps", i.Deps)
	if i.CreatedAt.IsZero() {
		f.add("CreatedAt", "is required")
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	return s.render("info-instancia.txt", tmplInfo, infoView{
		Info:        i,
		Underline:   strings.Repeat("=", len("Odoo instance ")+len(i.Internal)),
		URL:         scheme + "://" + i.Domain,
		Encrypted:   scheme == "https",
		Created:     i.CreatedAt.UTC().Format(time.RFC3339),
		ReleaseText: orUnknown(i.Release),
		PythonText:  orUnknown(i.Python),
		DepsText:    orUnknown(i.Deps),
	})
}
