package config

import (
	"strings"
	"testing"
	"time"
)

// TestApprovalSettings: two-person approval is off unless asked for, a
// request waits 30 minutes by default, and a wait outside 1m..24h is
// refused with the setting named.
func TestApprovalSettings(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.ApprovalRequired || c.ApprovalTTL != 30*time.Minute {
		t.Errorf("defaults: APPROVAL_REQUIRED %v, APPROVAL_TTL %s; want false, 30m", c.ApprovalRequired, c.ApprovalTTL)
	}
	t.Setenv("APPROVAL_REQUIRED", "true")
	t.Setenv("APPROVAL_TTL", "10m")
	if c, err = Load("", false); err != nil || !c.ApprovalRequired || c.ApprovalTTL != 10*time.Minute {
		t.Fatalf("APPROVAL_REQUIRED=true APPROVAL_TTL=10m: %+v, %v", c, err)
	}
	for _, bad := range []string{"10s", "48h"} {
		t.Setenv("APPROVAL_TTL", bad)
		if _, err := Load("", false); err == nil || !strings.Contains(err.Error(), "APPROVAL_TTL "+bad) {
			t.Errorf("APPROVAL_TTL=%s: err = %v, want it refused by name", bad, err)
		}
	}
}
