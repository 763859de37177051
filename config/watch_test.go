package config

import (
	"strings"
	"testing"
	"time"
)

func TestWatchDefaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.WatchInterval != time.Minute || c.WatchFailures != 3 || c.WatchQuiet != 30*time.Minute || c.WatchDiskFreeMB != 1024 || c.WatchCertDays != 14 {
		t.Errorf("watch defaults: interval %s failures %d quiet %s disk %d MiB cert %d days, want 1m 3 30m 1024 14",
			c.WatchInterval, c.WatchFailures, c.WatchQuiet, c.WatchDiskFreeMB, c.WatchCertDays)
	}
}

func TestWatchSettingsAreChecked(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	t.Setenv("WATCH_INTERVAL", "10ms")
	t.Setenv("WATCH_FAILURES", "0")
	t.Setenv("WATCH_QUIET", "-1m")
	_, err := Load("", false)
	if err == nil {
		t.Fatal("Load accepted WATCH_INTERVAL=10ms, WATCH_FAILURES=0, WATCH_QUIET=-1m")
	}
	for _, want := range []string{"WATCH_INTERVAL 10ms", "WATCH_FAILURES 0", "WATCH_QUIET -1m0s is negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	t.Setenv("WATCH_INTERVAL", "0")
	t.Setenv("WATCH_FAILURES", "1")
	t.Setenv("WATCH_QUIET", "0")
	c, err := Load("", false)
	if err != nil || c.WatchInterval != 0 {
		t.Errorf("WATCH_INTERVAL=0 (watcher off): %v, interval %v", err, c)
	}
}
