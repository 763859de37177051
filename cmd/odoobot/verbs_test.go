package main

import (
	"errors"
	"strings"
	"testing"

	"odoobot/provision"
)

// TestJobFailedNamesVerbAndStep: a failed job's error says which verb
// failed, on which instance, at which step, and what that means.
func TestJobFailedNamesVerbAndStep(t *testing.T) {
	failed := func(step provision.StepName, left ...string) error {
		return &provision.StepError{Step: step, Err: errors.New("boom"), Left: left}
	}
	rolledBack := provision.Job{State: provision.JobRolledBack}
	for _, tt := range []struct {
		verb  string
		words []string
		err   error
		want  string
	}{
		{"create", []string{"acme", "http"}, failed(provision.StepHealth), "the creation of acme failed at step health and was rolled back"},
		{"delete", []string{"acme"}, failed(provision.StepFinalCopy), "delete acme stopped at step backup: run it again to finish it"},
		{"restore", []string{"acme", "20260101T000000Z"}, failed(provision.StepSwap), "restore acme failed at step swap: the instance is as it was before"},
		{"backup", []string{"acme"}, failed(provision.StepDump), "backup acme failed at step dump"},
		{"clone", []string{"acme", "acme-staging"}, failed(provision.StepCopy), "clone acme to acme-staging failed at step copy and was rolled back"},
		{"upgrade", []string{"acme"}, failed(provision.StepTestCopy), "upgrade acme failed at step test-on-copy: it runs its old release as before"},
		{"upgrade", []string{"acme"}, failed(provision.StepUpdate, "switch"), "upgrade acme failed at step update and could NOT be fully rolled back; could NOT undo switch: see the job's log"},
		{"isolate", []string{"acme"}, failed(provision.StepStore), "isolate acme failed at step store and was undone"},
		{"backup", []string{"acme"}, errors.New("could not start: store away"), "backup acme did not succeed: could not start: store away"},
	} {
		if got := jobFailed(tt.verb, tt.words, rolledBack, tt.err).Error(); got != tt.want {
			t.Errorf("jobFailed(%s, %v)\n got %q\nwant %q", tt.verb, tt.err, got, tt.want)
		}
	}
	if got := jobFailed("backup", []string{"acme"}, provision.Job{State: provision.JobFailed}, nil).Error(); !strings.Contains(got, "did not succeed: it ended failed") {
		t.Errorf("a job that ended failed with no error: %q", got)
	}
}
