package commands

import (
	"context"
	"errors"
	"fmt"

	"odoobot/provision"
)

// resetAdminVerb runs reset-admin: it checks that the instance exists,
// asks the requester to confirm, and on confirmation sets a new random
// password for the instance's Odoo "admin" user and shows it to the
// requester alone. The audit gets the attempt and its outcome, never the
// password.
func (d *Dispatcher) resetAdminVerb(ctx context.Context, req Request, cmd Command, r Responder) (string, error) {
	if d.Admins == nil {
		return d.unavailable(ctx, cmd, r)
	}
	internal := provision.InternalName(cmd.Name)
	if d.Operator != nil {
		if _, err := d.Operator.Instance(ctx, cmd.Name); errors.Is(err, provision.ErrInstanceNotFound) {
			msg := fmt.Sprintf("no instance named %q; see list", cmd.Name)
			return "refused: " + msg, r.Private(ctx, msg)
		} else if err != nil {
			return d.failed(ctx, r, cmd, err)
		}
	}
	url := d.Rules.Domain(cmd.Name)
	what := fmt.Sprintf("set a new password for the Odoo admin user of %s (%s); the current one stops working", internal, url)
	return d.askFor(ctx, req, Required(VerbResetAdmin), what, r, func(ctx context.Context, r Responder) (*provision.Task, string, error) {
		pw, err := d.Admins.ResetAdminPassword(ctx, cmd.Name)
		if err != nil {
			return nil, "", err
		}
		if err := d.revealAdmin(ctx, r, cmd.Name, d.instanceURL(ctx, cmd.Name), pw, "reset", displayName(req.Identity), r.Reply); err != nil {
			return nil, "password reset; not delivered", nil
		}
		return nil, "password reset", nil
	})
}

// instanceURL is the instance's URL, from its recorded SSL mode (https
// when it is not known).
func (d *Dispatcher) instanceURL(ctx context.Context, name string) string {
	domain := d.Rules.Domain(name)
	if d.Operator != nil {
		if inst, err := d.Operator.Instance(ctx, name); err == nil {
			return scheme(inst.SSLMode) + "://" + domain
		}
	}
	return "https://" + domain
}

// AdminPasswordText is the message that shows an instance's admin
// password to its requester: the login, the password, the URL, that it
// is shown once, and how to set a new one. how is "created" or "reset".
func AdminPasswordText(name, url, password, how string) string {
	head := "🔑 Odoo admin of " + provision.InternalName(name)
	if how == "reset" {
		head += ": new password"
	}
	return fmt.Sprintf("%s (only you can see this)\nURL:      %s\nlogin:    admin\npassword: %s\nThis password is shown once and is not kept: note it now. /odoo reset-admin %s sets a new one.",
		head, url, password, name)
}

// AdminPasswordNotShownText is the message that tells who asked that
// the instance's admin password could not be shown to them privately:
// it was not sent anywhere else and is kept nowhere, and reset-admin
// sets a new one. It holds no secret: it may go where others read it.
func AdminPasswordNotShownText(name, how, who string) string {
	what := "The admin password of " + provision.InternalName(name)
	if how == "reset" {
		what = "The new admin password of " + provision.InternalName(name) + " is set (the old one no longer works), but it"
	}
	return fmt.Sprintf("🔑 %s: %s could not be shown to you privately. It was not sent anywhere else and is kept nowhere: /odoo reset-admin %s sets a new one and shows it to you alone.",
		who, what, name)
}

// revealAdmin shows the admin password to the requester alone through
// the Responder's secret path (ephemeral in chat), and nowhere else.
// When that fails the password is dropped, never sent to a lasting
// message: the requester is told it could not be shown, and to run
// reset-admin (AdminPasswordNotShownText), privately, else through
// public (the job's thread, the channel; nil for nowhere), since that
// notice holds no secret. Failures are logged without the password.
func (d *Dispatcher) revealAdmin(ctx context.Context, r Responder, name, url, password, how, who string, public func(ctx context.Context, text string) error) error {
	text := AdminPasswordText(name, url, password, how)
	err := r.Secret(ctx, text)
	if err == nil {
		return nil
	}
	d.logger().Error("the admin password could not be shown to its requester; it was dropped", "instance", name, "err", err)
	notice := AdminPasswordNotShownText(name, how, who)
	nerr := r.Private(ctx, notice)
	if nerr != nil && public != nil {
		nerr = public(ctx, notice)
	}
	if nerr != nil {
		d.logger().Error("the requester could not be told that the admin password was not shown", "instance", name, "err", nerr)
	}
	return err
}
