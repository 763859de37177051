package commands

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"odoobot/provision"
)

// certsVerb runs certs: every instance's certificate, where it is, when
// it expires and how many days are left.
func (d *Dispatcher) certsVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	list, err := d.Operator.List(ctx)
	if err != nil {
		return d.failed(ctx, r, cmd, err)
	}
	rows := make([]CertRow, 0, len(list))
	for _, inst := range list {
		rows = append(rows, ReadCertRow(inst, d.Operator.Paths(inst).CertDir))
	}
	if len(rows) == 0 {
		return "ok", r.Reply(ctx, FormatCerts(rows, d.now()))
	}
	return "ok", r.Long(ctx, "", FormatCerts(rows, d.now())) // a table: a code block in chat
}

// CertRow is one line of the certs verb: an instance and what its
// certificate directory holds.
type CertRow struct {
	Instance string
	Mode     provision.SSLMode
	File     string    // fullchain.pem; "" when there is none
	NotAfter time.Time // zero when File is ""
	Problem  string    // why there is no certificate to show, "" otherwise
}

// ReadCertRow reads <dir>/fullchain.pem for inst: a plain-HTTP instance
// has none; a cloudflare instance without the file may use the shared
// origin certificate (CF_ORIGIN_CERT); any other absence, or a file that
// is not a certificate, is a problem the row says.
func ReadCertRow(inst provision.Instance, dir string) CertRow {
	row := CertRow{Instance: inst.Name, Mode: inst.SSLMode}
	if !inst.SSLMode.TLS() {
		row.Problem = "plain HTTP: none"
		return row
	}
	path := filepath.Join(dir, "fullchain.pem")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if inst.SSLMode == provision.SSLCloudflare {
			row.Problem = "no per-instance certificate (shared origin certificate or missing)"
		} else {
			row.Problem = "missing!"
		}
		return row
	}
	if err != nil {
		row.Problem = "unreadable: " + err.Error()
		return row
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		row.Problem = path + " holds no certificate!"
		return row
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		row.Problem = path + ": " + err.Error()
		return row
	}
	row.File, row.NotAfter = path, c.NotAfter
	return row
}

// FormatCerts renders the rows as a table; days left are counted from
// now, and an expired certificate says so.
func FormatCerts(rows []CertRow, now time.Time) string {
	if len(rows) == 0 {
		return "no instances yet: /odoo create NAME"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-20s %-11s %-10s %-9s %s\n", "INSTANCE", "MODE", "EXPIRES", "DAYS LEFT", "FILE")
	for _, row := range rows {
		if row.Problem != "" {
			fmt.Fprintf(&b, "%-20s %-11s %s\n", row.Instance, row.Mode, row.Problem)
			continue
		}
		days := int(row.NotAfter.Sub(now).Hours() / 24)
		left := fmt.Sprint(days)
		if !row.NotAfter.After(now) {
			left = "EXPIRED!"
		}
		fmt.Fprintf(&b, "%-20s %-11s %-10s %-9s %s\n", row.Instance, row.Mode, row.NotAfter.UTC().Format("2006-01-02"), left, row.File)
	}
	return strings.TrimRight(b.String(), "\n")
}
