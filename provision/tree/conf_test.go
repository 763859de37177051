package tree

import (
	"strings"
	"testing"

	"odoobot/provision"
)

const sampleConf = `; written by hand
[options]
admin_passwd = secret
db_user = odoobot
addons_path = /srv/releases/old/odoo/addons,/srv/prod-x/custom_addons
# db_password = commented
db_password = shared
http_port = 2001
db_user = again
unknown_key = kept as it is   

[other]
db_user = not-options
`

// ParseOptions reads [options] only, the last of a key winning, and
// never a comment or another section's key.
func TestParseOptions(t *testing.T) {
	o := ParseOptions([]byte(sampleConf))
	for k, want := range map[string]string{"db_user": "again", "db_password": "shared", "http_port": "2001", "unknown_key": "kept as it is"} {
		if o[k] != want {
			t.Errorf("%s = %q, want %q", k, o[k], want)
		}
	}
	if len(ParseOptions([]byte("db_user = outside\n"))) != 0 {
		t.Error("a key outside any section was read as an option")
	}
}

// Edit sets keys in place (later duplicates dropped), adds missing ones
// after [options], moves the release directory in values only, and
// keeps every other line byte for byte.
func TestEditKeepsUnknownLines(t *testing.T) {
	b, err := Edit([]byte(sampleConf), provision.ConfEdit{
		Set:     map[string]string{"db_user": "prod-x", "db_password": "new", "db_port": "5432"},
		FromDir: "/srv/releases/old", ToDir: "/srv/releases/new",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `; written by hand
[options]
db_port = 5432
admin_passwd = secret
db_user = prod-x
addons_path = /srv/releases/new/odoo/addons,/srv/prod-x/custom_addons
# db_password = commented
db_password = new
http_port = 2001
unknown_key = kept as it is   

[other]
db_user = not-options
`
	if string(b) != want {
		t.Errorf("edited:\n%s\nwant:\n%s", b, want)
	}
	if o := ParseOptions(b); o["db_user"] != "prod-x" || o["db_password"] != "new" {
		t.Errorf("read back: %v", o)
	}
}

// An edit that cannot be made says why and returns nothing.
func TestEditRefuses(t *testing.T) {
	if b, err := Edit([]byte("[other]\na = b\n"), provision.ConfEdit{Set: map[string]string{"db_user": "x"}}); err == nil || b != nil || !strings.Contains(err.Error(), "[options]") {
		t.Errorf("no [options]: %q, %v", b, err)
	}
	if b, err := Edit([]byte(sampleConf), provision.ConfEdit{FromDir: "/srv/releases/other", ToDir: "/x"}); err == nil || b != nil {
		t.Errorf("a release it does not mention: %q, %v", b, err)
	}
	// No edit: the bytes as they were.
	if b, err := Edit([]byte(sampleConf), provision.ConfEdit{}); err != nil || string(b) != sampleConf {
		t.Errorf("an empty edit changed the file: %v\n%s", err, b)
	}
}
