package provision

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestWaitHealthyAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/web/health" {
			w.Write([]byte(`{"status": "pass"}`))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	defer srv.Close()
	if err := WaitHealthy(context.Background(), l.Addr().(*net.TCPAddr).Port, 5*time.Second, ""); err != nil {
		t.Fatal(err)
	}
}

func TestWaitHealthyTimeoutCarriesTheLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "odoo.log")
	os.WriteFile(logPath, []byte("line 1\nERROR odoo: could not bind port\n"), 0o644)
	err := WaitHealthy(context.Background(), freePort(t), 300*time.Millisecond, logPath)
	if err == nil || !strings.Contains(err.Error(), "could not bind port") {
		t.Fatalf("err = %v, want the log's last lines", err)
	}
}

// TestWaitHealthyGivesUpWhenTheProcessDies: a dead service fails the step
// at once, not at the deadline.
func TestWaitHealthyGivesUpWhenTheProcessDies(t *testing.T) {
	start := time.Now()
	err := waitHealthy(context.Background(), freePort(t), time.Minute, "", func(context.Context) error {
		return errors.New("odoo19e-prod-acme.service is failed/failed")
	}, nil)
	if err == nil || !strings.Contains(err.Error(), "stopped before") || time.Since(start) > 10*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}
