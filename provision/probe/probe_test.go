package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"odoobot/internal/nofollow"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"odoobot/provision"
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

// serve answers /web/health with status, and 404 elsewhere, on a
// loopback port it returns.
func serve(t *testing.T, status int) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/web/health" && r.URL.Query().Get("db_server_status") == "1" {
			w.WriteHeader(status)
			w.Write([]byte(`{"status": "pass"}`))
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestWaitHealthyAnswers(t *testing.T) {
	port := serve(t, http.StatusOK)
	if err := provision.WaitHealthy(context.Background(), Health{}, port, 5*time.Second, provision.LogTail{}); err != nil {
		t.Fatal(err)
	}
	if !Healthy(context.Background(), port) {
		t.Errorf("Healthy(%d) = false for a 200", port)
	}
}

// TestCheckSaysWhatWentWrong: a 500 (Odoo 19 without its database) and
// a closed port are failures that say so.
func TestCheckSaysWhatWentWrong(t *testing.T) {
	port := serve(t, http.StatusInternalServerError)
	if err := (Health{}).Check(context.Background(), port); err == nil || err.Error() != "status 500 Internal Server Error" {
		t.Errorf("Check of a 500 = %v", err)
	}
	if err := (Health{}).Check(context.Background(), freePort(t)); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Check of a closed port = %v", err)
	}
}

func TestWaitHealthyTimeoutCarriesTheLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "odoo.log")
	os.WriteFile(logPath, []byte("line 1\nERROR odoo: could not bind port\n"), 0o644)
	port := freePort(t)
	err := provision.WaitHealthy(context.Background(), Health{}, port, 300*time.Millisecond, fileTail(logPath))
	if err == nil || !strings.Contains(err.Error(), "could not bind port") || !strings.Contains(err.Error(), (Health{}).URL(port)+" did not answer") {
		t.Fatalf("err = %v, want the URL and the log's last lines", err)
	}
}

// fileTail is the log at path, read as the tree driver reads an
// instance's (nofollow.Tail).
func fileTail(path string) provision.LogTail {
	return provision.LogTail{Path: path, Lines: func(_ context.Context, n int) []string { return nofollow.Tail(path, n) }}
}

// TestARefusedPortIsTyped: a closed port is a failure of kind
// unavailable that names the address and what to do, in words without
// the client's text; a health wait that times out on it keeps that kind
// and those words, and its own text (the URL, the log's lines) for the
// log.
func TestARefusedPortIsTyped(t *testing.T) {
	port := freePort(t)
	want := fmt.Sprintf("nothing answered at 127.0.0.1:%d (connection refused): the service meant to listen there is not running; check it with status NAME and the logs verb", port)
	err := (Health{}).Check(context.Background(), port)
	if e, ok := provision.AsError(err); !ok || e.Kind != provision.KindUnavailable || e.Explain() != want || !strings.Contains(err.Error(), "dial tcp") {
		t.Errorf("Check of a closed port = %#v", err)
	}
	logPath := filepath.Join(t.TempDir(), "odoo.log")
	os.WriteFile(logPath, []byte("ERROR odoo: could not bind port\n"), 0o644)
	err = provision.WaitHealthy(context.Background(), Health{}, port, 300*time.Millisecond, fileTail(logPath))
	if e, ok := provision.AsError(err); !ok || e.Kind != provision.KindUnavailable || e.Explain() != want {
		t.Errorf("a health wait on a closed port = %#v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "could not bind port") || !strings.Contains(err.Error(), (Health{}).URL(port)+" did not answer") {
		t.Errorf("the wait's text lost the URL or the log: %v", err)
	}
	// A 500 is no refused connection: not typed so.
	if err := (Health{}).Check(context.Background(), serve(t, http.StatusInternalServerError)); provision.KindOf(err) != "" {
		t.Errorf("Check of a 500 typed: %#v", err)
	}
}
