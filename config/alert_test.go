package config

import (
	"strings"
	"testing"
	"time"
)

// ALERT_REPEAT defaults to 30m and takes 0; the mentions must be a Slack
// user group ID and a Discord role ID, and a wrong one says where to
// find the right one.
func TestAlertCardSettings(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.AlertRepeat != 30*time.Minute || c.SlackAlertMention != "" || c.DiscordAlertMention != "" {
		t.Errorf("defaults: repeat %s, mentions %q %q; want 30m and none", c.AlertRepeat, c.SlackAlertMention, c.DiscordAlertMention)
	}
	t.Setenv("ALERT_REPEAT", "10ms")
	t.Setenv("SLACK_ALERT_MENTION", "@oncall")
	t.Setenv("DISCORD_ALERT_MENTION", "<@&123>")
	_, err = Load("", false)
	if err == nil {
		t.Fatal("Load accepted ALERT_REPEAT=10ms and mentions that are not IDs")
	}
	for _, want := range []string{"ALERT_REPEAT 10ms", `SLACK_ALERT_MENTION "@oncall": give a Slack user group ID`, `DISCORD_ALERT_MENTION "<@&123>": give a Discord role ID`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	t.Setenv("ALERT_REPEAT", "0")
	t.Setenv("SLACK_ALERT_MENTION", "S0123ABCD")
	t.Setenv("DISCORD_ALERT_MENTION", "778899001122334455")
	if c, err := Load("", false); err != nil || c.AlertRepeat != 0 || c.SlackAlertMention != "S0123ABCD" {
		t.Errorf("ALERT_REPEAT=0 and valid IDs: %v", err)
	}
}
