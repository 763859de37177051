package provision

import "testing"

func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"fatal: could not read from https://bot:ghp_s3cret@git.example.com/odoo/enterprise.git": "fatal: could not read from https://[redacted]@git.example.com/odoo/enterprise.git",
		"ssh://git@host/repo and file:///srv/odoo":                                              "ssh://[redacted]@host/repo and file:///srv/odoo",
		"https://github.com/odoo/odoo.git":                                                      "https://github.com/odoo/odoo.git",
		"mail ana@example.com":                                                                  "mail ana@example.com",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
