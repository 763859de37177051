package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"odoobot/provision"
)

// sharedRoleNote says which recorded instances still run on odoobot's own
// database role (imported from API-DEV, not yet isolated): their
// odoo.conf holds DB_USER's password, so their admins can act as odoobot
// in PostgreSQL. With none left after an isolate (afterIsolate), it says
// that password must change, since API-DEV's files held it. "" when there
// is nothing to say.
func sharedRoleNote(list []provision.Instance, dbUser string, afterIsolate bool) string {
	var shared []string
	for _, inst := range list {
		if inst.DBRole == "" {
			shared = append(shared, inst.Name)
		}
	}
	switch {
	case len(shared) > 0:
		return fmt.Sprintf("%d %s still %s on odoobot's own database role %s, whose password %s odoo.conf holds: %s. "+
			"Whoever runs code in %s can act as odoobot in PostgreSQL; run `odoobot isolate NAME --yes` for each.",
			len(shared), plural(len(shared), "instance", "instances"), plural(len(shared), "runs", "run"), dbUser,
			plural(len(shared), "its", "their"), strings.Join(shared, ", "), plural(len(shared), "it", "them"))
	case afterIsolate:
		return fmt.Sprintf("No instance shares odoobot's database role %s any more. API-DEV's odoo.conf files held its password: "+
			"change it now, as PostgreSQL's superuser (sudo -u postgres psql -c '\\password %s'), put the new one in DB_PASSWORD "+
			"(or the file DB_PASSWORD_FILE names) and restart odoobot.", dbUser, dbUser)
	}
	return ""
}

// printSharedRoleNote prints sharedRoleNote for the store's instances.
func printSharedRoleNote(ctx context.Context, w io.Writer, instances func(context.Context) ([]provision.Instance, error), dbUser string, afterIsolate bool) error {
	list, err := instances(ctx)
	if err != nil {
		return err
	}
	if note := sharedRoleNote(list, dbUser, afterIsolate); note != "" {
		fmt.Fprintln(w, note)
	}
	return nil
}
