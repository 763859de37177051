package provision

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// downHealth is an instance that never answers, a test double of
// provision/probe.
type downHealth struct{}

func (downHealth) Check(context.Context, int) error {
	return errors.New("connection refused")
}

func (downHealth) URL(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/web/health"
}

// TestWaitHealthyGivesUpWhenTheProcessDies: a dead service fails the step
// at once, not at the deadline.
func TestWaitHealthyGivesUpWhenTheProcessDies(t *testing.T) {
	start := time.Now()
	err := waitHealthy(context.Background(), downHealth{}, 2105, time.Minute, LogTail{}, func(context.Context) error {
		return errors.New("odoo19e-prod-acme.service is failed/failed")
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "stopped before") || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

// TestWaitHealthyTimesOut: an instance that never answers fails at the
// deadline, naming the URL and the last failure.
func TestWaitHealthyTimesOut(t *testing.T) {
	err := WaitHealthy(context.Background(), downHealth{}, 2105, 200*time.Millisecond, LogTail{})
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:2105/web/health did not answer within 200ms (last: connection refused)") {
		t.Fatalf("err = %v", err)
	}
}
