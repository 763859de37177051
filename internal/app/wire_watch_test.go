package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"odoobot/commands"
)

func TestAlertsReachTextAndButtonChannels(t *testing.T) {
	var logged strings.Builder
	a := &App{Log: slog.New(slog.NewTextHandler(&logged, nil))}
	var texts []string
	var alerts []commands.Alert
	a.AddAlerts(func(_ context.Context, text string) error { texts = append(texts, text); return nil })
	a.AddActionAlerts(func(_ context.Context, alert commands.Alert) error { alerts = append(alerts, alert); return nil })

	down := commands.Alert{Text: "🚨 instance acme is failing", Actions: commands.InstanceActions("acme")}
	a.post(context.Background(), down)
	a.Alert(context.Background(), "certificate renewal failed for acme")
	if d := cmp.Diff(texts, []string{"🚨 instance acme is failing", "⚠ certificate renewal failed for acme"}); d != "" {
		t.Errorf("text channel (-got +want):\n%s", d)
	}
	want := []commands.Alert{down, {Text: "⚠ certificate renewal failed for acme"}}
	if d := cmp.Diff(alerts, want); d != "" {
		t.Errorf("button channel (-got +want):\n%s", d)
	}
}
