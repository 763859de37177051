package main

import (
	"strings"
	"testing"
)

// TestJobFailedNamesTheVerb: a failed job's error says which verb failed.
func TestJobFailedNamesTheVerb(t *testing.T) {
	for verb, want := range map[string]string{
		"create":  "the creation of acme failed and was rolled back",
		"delete":  "delete acme stopped",
		"restore": "restore acme failed",
		"backup":  "backup acme failed",
	} {
		if got := jobFailed(verb, []string{"acme", "x"}).Error(); !strings.HasPrefix(got, want) {
			t.Errorf("jobFailed(%s) = %q, want %q…", verb, got, want)
		}
	}
}
