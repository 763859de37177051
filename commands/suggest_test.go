package commands

import (
	"context"
	"fmt"
	"testing"

	"odoobot/provision"
)

// Suggest offers the instances whose name starts with what was typed, to
// a role that may run the verb, at most MaxChoices; nothing to a role
// that may not, nor to a stranger; modes for create.
func TestSuggest(t *testing.T) {
	d, _, audit := newTestDispatcher(t)
	var list instancesOf
	for i := range 40 {
		list = append(list, provision.Instance{Name: fmt.Sprintf("acme%02d", i), State: provision.StateReady})
	}
	list = append(list, provision.Instance{Name: "beta", State: provision.StateFailed})
	d.Operator = &provision.Operator{Store: list}
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01"}
	viewer := Identity{Platform: "slack", UserID: "U0VIEW001"}
	ctx := context.Background()

	if got := d.Suggest(ctx, viewer, "C1", VerbStatus, FieldName, "", "B"); len(got) != 1 || got[0] != (Choice{Label: "beta (failed)", Value: "beta"}) {
		t.Errorf("a viewer's status names typed B: %+v", got)
	}
	if got := d.Suggest(ctx, viewer, "C1", VerbStatus, FieldName, "", "acme"); len(got) != MaxChoices || got[0].Value != "acme00" {
		t.Errorf("40 names typed acme: %d offered, first %+v; want %d from acme00", len(got), got, MaxChoices)
	}
	if got := d.Suggest(ctx, viewer, "C1", VerbDelete, FieldName, "", ""); len(got) != 0 {
		t.Errorf("a viewer is offered names for delete: %+v", got)
	}
	if got := d.Suggest(ctx, Identity{Platform: "slack", UserID: "U0NOBODY"}, "C1", VerbStatus, FieldName, "", ""); len(got) != 0 {
		t.Errorf("a stranger is offered names: %+v", got)
	}
	if got := d.Suggest(ctx, admin, "C1", VerbCreate, FieldMode, "", "l"); len(got) != 1 || got[0].Value != "letsencrypt" {
		t.Errorf("modes typed l: %+v", got)
	}
	if len(audit.entries) != 0 {
		t.Errorf("suggestions were audited: %+v", audit.entries)
	}
}
