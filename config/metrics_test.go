package config

import (
	"strings"
	"testing"
	"time"
)

func TestMetricsEvery(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil || c.MetricsEvery != time.Minute {
		t.Fatalf("METRICS_EVERY default: %v (err %v), want 1m", c.MetricsEvery, err)
	}
	t.Setenv("METRICS_EVERY", "10ms")
	if _, err := Load("", false); err == nil || !strings.Contains(err.Error(), "METRICS_EVERY 10ms: give a duration of at least 1s") {
		t.Errorf("METRICS_EVERY=10ms: %v, want it refused saying what to give", err)
	}
	t.Setenv("METRICS_EVERY", "0")
	if c, err := Load("", false); err != nil || c.MetricsEvery != 0 {
		t.Errorf("METRICS_EVERY=0 (sampling off): %v, every %v", err, c.MetricsEvery)
	}
}
