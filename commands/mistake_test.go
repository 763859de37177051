package commands

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"odoobot/provision"
)

// missingOperator is an Operator that knows no instance, in the store's
// own words.
type missingOperator struct{ Operator }

func (missingOperator) Status(_ context.Context, name string) (provision.InstanceStatus, error) {
	return provision.InstanceStatus{}, fmt.Errorf("postgres: instance %s: %w", name, provision.ErrInstanceNotFound)
}

// busyCreator refuses a creation as the store does when a job is open.
type busyCreator struct{}

func (busyCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	return nil, fmt.Errorf("postgres: create job: %s has create job #3 running: %w", req.Name, provision.ErrInstanceBusy)
}

// TestAUsersMistakeIsNoErrorAndChatGetsASentence: a name that does not
// exist and an instance already busy are the user's to mend, not
// failures of odoobot: they are logged below ERROR, the log keeps the
// store's text, and chat gets a sentence that says what to do, never
// the store's text.
func TestAUsersMistakeIsNoErrorAndChatGetsASentence(t *testing.T) {
	var logs bytes.Buffer
	d, _, _ := newTestDispatcher(t)
	d.Operator = missingOperator{}
	d.Creator = busyCreator{}
	d.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	admin := Identity{Platform: "slack", UserID: "U0ADMIN01", UserName: "ana"}
	for text, want := range map[string]string{
		"status acmee":      "no instance is named acmee",
		"create dupco http": "dupco is busy with another job",
	} {
		r := &recordingResponder{}
		if _, err := d.Handle(context.Background(), Request{Identity: admin, Channel: "C1", Text: text}, r); err != nil {
			t.Fatal(err)
		}
		if len(r.privates) != 1 {
			t.Fatalf("%s: privates %q, want one private answer", text, r.privates)
		}
		got := r.privates[0]
		if strings.Contains(got, "postgres") || strings.Contains(got, "#3") || !strings.Contains(got, want) {
			t.Errorf("%s: chat got %q, want a sentence with %q and no internal text", text, got, want)
		}
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("a user's mistake was logged at ERROR:\n%s", logs.String())
	}
	for _, raw := range []string{"postgres: instance acmee", "postgres: create job: dupco has create job #3"} {
		if !strings.Contains(logs.String(), raw) {
			t.Errorf("the log lacks the detail %q:\n%s", raw, logs.String())
		}
	}
}
