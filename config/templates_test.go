package config

import (
	"strings"
	"testing"
	"time"
)

func TestTemplateCheck(t *testing.T) {
	clearEnv(t)
	t.Setenv("CF_ZONE_NAME", "example.com")
	c, err := Load("", false)
	if err != nil || c.TemplateCheck != 10*time.Minute {
		t.Fatalf("TEMPLATE_CHECK default: %v, %v; want 10m", c, err)
	}
	t.Setenv("TEMPLATE_CHECK", "10ms")
	if _, err := Load("", false); err == nil || !strings.Contains(err.Error(), "TEMPLATE_CHECK 10ms") {
		t.Errorf("Load with TEMPLATE_CHECK=10ms: %v; want an error naming it", err)
	}
	t.Setenv("TEMPLATE_CHECK", "0")
	if c, err := Load("", false); err != nil || c.TemplateCheck != 0 {
		t.Errorf("TEMPLATE_CHECK=0 (off): %v, %v", c, err)
	}
}
