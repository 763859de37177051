package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestAlertReachesEveryChannel(t *testing.T) {
	var logged strings.Builder
	a := &App{Log: slog.New(slog.NewTextHandler(&logged, nil))}
	var got []string
	a.AddAlerts(func(_ context.Context, text string) error { got = append(got, "slack: "+text); return nil })
	a.AddAlerts(func(_ context.Context, text string) error { return errors.New("discord down") })
	a.Alert(context.Background(), "certificate renewal failed for acme")
	if len(got) != 1 || got[0] != "slack: ⚠ certificate renewal failed for acme" {
		t.Errorf("delivered %q", got)
	}
	if !strings.Contains(logged.String(), "certificate renewal failed") || !strings.Contains(logged.String(), "discord down") {
		t.Errorf("log:\n%s", logged.String())
	}
}
