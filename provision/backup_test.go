package provision

import (
	"testing"
	"time"
)

func TestNextDaily(t *testing.T) {
	at := 3 * time.Hour
	tests := []struct{ now, want string }{
		{"2026-11-27T02:59:59Z", "2026-11-27T03:00:00Z"},
		{"2026-11-27T03:00:00Z", "2026-11-28T03:00:00Z"},
		{"2026-11-27T23:00:00Z", "2026-11-28T03:00:00Z"},
		{"2026-12-31T12:00:00-05:00", "2027-01-01T03:00:00Z"},
	}
	for _, tt := range tests {
		now, _ := time.Parse(time.RFC3339, tt.now)
		if got := NextDaily(now, at).Format(time.RFC3339); got != tt.want {
			t.Errorf("NextDaily(%s) = %s, want %s", tt.now, got, tt.want)
		}
	}
}
