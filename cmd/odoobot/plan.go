package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"odoobot/config"
	"odoobot/provision"
	"odoobot/provision/cloudflare"
)

// plan is `odoobot plan NAME [mode]`: a dry run. It reads, never writes:
// no file, no database row, no port reservation.
func plan(ctx context.Context, w io.Writer, cfg *config.Config, args []string) error {
	name, mode, err := nameAndMode(cfg, "plan", args)
	if err != nil {
		return err
	}
	if err := cfg.NameRules().Check(name); err != nil {
		return err
	}
	layout := cfg.Layout()
	inst := layout.NewInstance(name, mode)
	p := layout.Paths(inst)
	ports, portsNote := previewPorts(ctx, cfg)

	fmt.Fprintf(w, "plan: create %s (%s) — a dry run: nothing was changed\n\n", name, mode)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	row("domain", inst.Domain)
	row("internal name", inst.Internal)
	row("system user", inst.User+" (its own, with a group of its own; no login shell)")
	row("database role", inst.DBRole+" (its own: owns only the instance's database; granted to "+cfg.DBUser+")")
	row("database", fmt.Sprintf("%s (UTF8, owner %s, closed to other roles, on %s:%d)", inst.Internal, inst.DBRole, cfg.DBHost, cfg.DBPort))
	row("http port", portString(ports.HTTP, cfg.HTTPPorts, portsNote))
	row("gevent port", portString(ports.Gevent, cfg.GeventPorts, portsNote))
	row("unit", fmt.Sprintf("%s (%s)", inst.Unit, p.Unit))
	row("directory", p.Dir)
	row("directory mode", "root:"+inst.User+" 0750; data dir and odoo.log "+inst.User+"'s")
	row("odoo.conf", p.Conf+" (root:"+inst.User+" 0640: the instance reads it and cannot change it; holds its database password and master password)")
	row("odoo.log", p.Log)
	row("custom addons", p.CustomAddons)
	row("data dir", p.DataDir)
	row("summary", p.Info)
	row("nginx site", p.SiteAvail+" → "+p.SiteEnabled)
	row("certificate", certificateLine(cfg, mode, p))
	row("DNS record", dnsLine(cfg, inst))
	dnsErr := checkDNS(ctx, cfg)
	if cfg.ManagesDNS() {
		if dnsErr != nil {
			row("DNS access", "FAILS: "+dnsErr.Error())
		} else {
			row("DNS access", "token and zone checked")
		}
	}
	row("modules", strings.Join(cfg.InstanceModules(), ","))
	row("release", fmt.Sprintf("%s %s, Python %s, cached under %s", cfg.OdooRepo, cfg.Branch(), cfg.PythonVersion, filepath.Join(cfg.StateDir, "releases")))
	row("creation log", p.CreateLog)
	tw.Flush()

	var steps []string
	for _, s := range provision.StepNames(mode, planOptions(cfg)) {
		steps = append(steps, string(s))
	}
	fmt.Fprintf(w, "\nsteps: %s\n", strings.Join(steps, " → "))
	if dnsErr != nil {
		return fmt.Errorf("a creation would be refused: %w", dnsErr)
	}
	return nil
}

// checkDNS verifies the Cloudflare token and zone when odoobot manages
// DNS, reading only.
func checkDNS(ctx context.Context, cfg *config.Config) error {
	if !cfg.ManagesDNS() {
		return nil
	}
	cf, err := cloudflare.New(ctx, cloudflare.Config{
		APIToken: cfg.APIToken.Reveal(), ZoneName: cfg.Zone(), ZoneID: cfg.ZoneID,
		PublicIP: cfg.PublicIP, ServerID: cfg.ServerID, BaseURL: cfg.CFBaseURL,
		CallTimeout: cfg.CFCallTimeout, RequestTimeout: cfg.CFRequestTimeout, RateLimit: cfg.CFRateLimit,
	})
	if err != nil {
		return err
	}
	return cf.Check(ctx)
}

func planOptions(cfg *config.Config) provision.PlanOptions {
	return provision.PlanOptions{ManagesDNS: cfg.ManagesDNS(), PublicIP: cfg.PublicIP, DNS01: cfg.ManagesDNS()}
}

// nameAndMode reads "NAME [mode]" for create and plan.
func nameAndMode(cfg *config.Config, verb string, args []string) (string, provision.SSLMode, error) {
	if len(args) == 0 || len(args) > 2 {
		return "", "", &usageError{msg: "usage: odoobot " + verb + " NAME [cloudflare|letsencrypt|http]"}
	}
	name := args[0]
	if strings.HasPrefix(name, "-") && len(args) == 1 {
		// Not a flag: names never start with a hyphen, and the rule says so.
		return name, cfg.SSLMode(), nil
	}
	mode := cfg.SSLMode()
	if len(args) == 2 {
		m, err := provision.ParseSSLMode(args[1], mode)
		if err != nil {
			return "", "", &usageError{msg: err.Error()}
		}
		mode = m
	}
	return name, mode, nil
}

func portString(port int, r config.Range, note string) string {
	if port == 0 {
		return fmt.Sprintf("none free in %s", r)
	}
	return fmt.Sprintf("%d of %s (%s)", port, r, note)
}

func certificateLine(cfg *config.Config, mode provision.SSLMode, p provision.Paths) string {
	switch mode {
	case provision.SSLCloudflare:
		if cfg.OriginCert != "" {
			return "existing origin certificate " + cfg.OriginCert
		}
		if !cfg.ManagesDNS() {
			return "NOT AVAILABLE: cloudflare mode needs CF_API_TOKEN (Origin CA) or CF_ORIGIN_CERT; a creation would be refused"
		}
		return "Cloudflare Origin CA certificate in " + p.CertDir + " (key mode 0600)"
	case provision.SSLLetsEncrypt:
		how := "HTTP-01 through nginx"
		if cfg.ManagesDNS() {
			how = "DNS-01 through Cloudflare"
		}
		return "Let's Encrypt (" + how + ") in " + p.CertDir + ", renewed 30 days before expiry"
	}
	return "none: plain HTTP, NOT ENCRYPTED (testing only)"
}

func dnsLine(cfg *config.Config, inst provision.Instance) string {
	if !cfg.ManagesDNS() {
		return "not managed (CF_API_TOKEN is not set): point " + inst.Domain + " at this server yourself"
	}
	return fmt.Sprintf("A %s → %s, proxied (Cloudflare sets automatic TTL on proxied records)", inst.Domain, cfg.PublicIP)
}
