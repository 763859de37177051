package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"odoobot/provision"
)

// VerbTemplates lists the template databases creations copy.
const VerbTemplates Verb = "templates"

// TemplateLister runs templates: the template databases of this host,
// ready, building and failed (provision/odoo's Warmer, or its
// Databases). Without it, templates answers that it is not available on
// this server.
type TemplateLister interface {
	Templates(ctx context.Context) ([]provision.TemplateInfo, error)
}

// templatesVerb runs templates: each template's release, modules,
// language, state, size and age.
func (d *Dispatcher) templatesVerb(ctx context.Context, cmd Command, r Responder) (string, error) {
	if d.Templates == nil {
		return d.unavailable(ctx, cmd, r)
	}
	list, err := d.Templates.Templates(ctx)
	if err != nil {
		return d.failed(ctx, r, cmd, err)
	}
	if len(list) == 0 {
		return "ok", r.Reply(ctx, "no template yet: the first creation, or the ahead-of-need build (TEMPLATE_CHECK), makes one")
	}
	return "ok", r.Long(ctx, "", FormatTemplates(list, d.now())) // a table: a code block in chat
}

// FormatTemplates renders the templates verb's table: one line a
// template, then, for a building or failed one, its progress or error.
func FormatTemplates(list []provision.TemplateInfo, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-14s %-6s %-8s %-9s %-9s %-6s %s\n", "RELEASE", "ODOO", "LANG", "STATE", "SIZE", "AGE", "MODULES")
	for _, t := range list {
		mods := "?"
		if t.Modules != nil {
			mods = strings.Join(t.Modules, ",")
			if mods == "" {
				mods = "base"
			}
		}
		lang := t.Lang
		if t.Modules != nil && lang == "" {
			lang = "en_US"
		}
		size, age := "-", "-"
		if t.Size > 0 {
			size = provision.ByteSize(uint64(t.Size))
		}
		if !t.Since.IsZero() {
			age = tplAge(now.Sub(t.Since))
		}
		state := string(t.State)
		if t.Configured {
			state += "*"
		}
		fmt.Fprintf(&b, "%-14s %-6s %-8s %-9s %-9s %-6s %s\n", tplOrDash(t.Release), tplOrDash(t.Version), tplOrDash(lang), state, size, age, mods)
		switch {
		case t.State == provision.TemplateBuilding && t.Progress != "":
			fmt.Fprintf(&b, "  %s: %s\n", t.Name, t.Progress)
		case t.State == provision.TemplateFailed:
			fmt.Fprintf(&b, "  %s failed: %s\n", t.Name, tplOneLine(t.Error, 300))
		}
	}
	if tplHasConfigured(list) {
		b.WriteString("* the template the next creation uses\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// TemplatesLine is capacity's one line about templates: how many are
// ready, and what is building or failed.
func TemplatesLine(list []provision.TemplateInfo) string {
	n := map[provision.TemplateState]int{}
	var extra []string
	for _, t := range list {
		n[t.State]++
		if t.State == provision.TemplateBuilding && t.Progress != "" {
			extra = append(extra, "building: "+tplOneLine(t.Progress, 80))
		}
	}
	s := fmt.Sprintf("templates  %d ready, %d building, %d failed", n[provision.TemplateReady], n[provision.TemplateBuilding], n[provision.TemplateFailed])
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return s + "; see templates"
}

// capacityTemplates is TemplatesLine when templates can be listed, ""
// otherwise (a failure is logged, never capacity's).
func (d *Dispatcher) capacityTemplates(ctx context.Context) string {
	if d.Templates == nil {
		return ""
	}
	list, err := d.Templates.Templates(ctx)
	if err != nil {
		d.logger().Warn("capacity: templates", "err", err)
		return ""
	}
	return TemplatesLine(list)
}

func tplHasConfigured(list []provision.TemplateInfo) bool {
	for _, t := range list {
		if t.Configured {
			return true
		}
	}
	return false
}

func tplOrDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tplOneLine is s on one line, cut to at most n runes.
func tplOneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// tplAge is d as "45s", "12m", "5h" or "3d".
func tplAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
