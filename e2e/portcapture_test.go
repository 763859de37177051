package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/internal/listeners"
	"odoobot/internal/watch"
	"odoobot/provision"
	"odoobot/provision/ports"
	"odoobot/provision/probe"
	"odoobot/provision/sysusers"
)

// capturer binds 127.0.0.1:PORT as soon as it is free (trying every
// millisecond), says "bound", and answers every GET with 200 and an
// X-Captured-By header: what a tenant's code would do to a neighbour's
// port to receive its users' logins and cookies from nginx.
const capturer = `import http.server, socket, sys, time
port, by = int(sys.argv[1]), sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("X-Captured-By", by)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    def server_bind(self):
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        while True:
            try:
                self.socket.bind(self.server_address)
                break
            except OSError:
                time.sleep(0.001)
        self.server_name, self.server_port = "capture", port
s = S(("127.0.0.1", port), H)
print("bound", flush=True)
s.serve_forever()
`

// TestNeighbourCannotPassForAnInstance: instance A's user binds its
// neighbour B's HTTP port on 127.0.0.1 the moment B lets go of it, and
// answers /web/health with 200 (on a host where systemd does not
// enforce the units' SocketBindAllow, as this one, and from outside A's
// unit on any host). B's restart and start then fail naming A's user,
// status says who holds the port, the watcher alerts with it, and
// nothing calls B healthy; once the capture ends, B starts and serves,
// and A served throughout.
func TestNeighbourCannotPassForAnInstance(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	bin := odoobotBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	instA := createReady(t, ctx, a, uniqueName(t, "cap-a"))
	instB := createReady(t, ctx, a, uniqueName(t, "cap-b"))
	odoobot := func(args ...string) (string, error) {
		out, err := env.command(ctx, bin, args...).CombinedOutput()
		return string(out), err
	}
	u, err := user.Lookup(instA.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	held := fmt.Sprintf("port %d of %s is held by user %s (uid %d), not %s: another instance took it", instB.Ports.HTTP, instB.Name, instA.User, uid, instB.User)

	// A's user waits for B's HTTP port while B runs; B restarts.
	bound, stopCapture := captureAs(t, uint32(uid), uint32(gid), instB.Ports.HTTP, instA.Name)
	out, err := odoobot("restart", instB.Name)
	if !holdsPort(t, instB.Ports.HTTP, uid) {
		t.Fatalf("B's restart won the race for its port (the capture never bound it): the test proves nothing; run it again\n%s", out)
	}
	<-bound
	resp, err2 := http.Get(fmt.Sprintf("http://127.0.0.1:%d/web/health", instB.Ports.HTTP))
	if err2 != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Captured-By") != instA.Name {
		t.Fatalf("the capture does not answer B's health check: %v %v", resp, err2)
	}
	resp.Body.Close()
	t.Logf("restart %s while %s holds its port: %v\n%s", instB.Name, instA.User, err, out)
	if err == nil || !strings.Contains(out, held) {
		t.Errorf("restart %s while %s holds its port: %v, want a failure saying %q\n%s", instB.Name, instA.User, err, held, out)
	}

	// B stopped, then started while A holds its port.
	if out, err := odoobot("stop", instB.Name); err != nil {
		t.Logf("stop %s: %v\n%s", instB.Name, err, out) // it may be failed already
	}
	exec.CommandContext(ctx, "systemctl", "stop", instB.Unit).Run()
	out, err = odoobot("start", instB.Name)
	t.Logf("start %s while %s holds its port: %v\n%s", instB.Name, instA.User, err, out)
	if err == nil || !strings.Contains(out, held) {
		t.Errorf("start %s while %s holds its port: %v, want a failure saying %q\n%s", instB.Name, instA.User, err, held, out)
	}
	out, err = odoobot("status", instB.Name)
	t.Logf("status %s while %s holds its port: %v\n%s", instB.Name, instA.User, err, out)
	if err != nil || !strings.Contains(out, held) || strings.Contains(out, "healthy") {
		t.Errorf("status %s: %v, want it to say %q and not healthy\n%s", instB.Name, err, held, out)
	}
	if st, err := a.Operator.Status(ctx, instB.Name); err != nil || st.Healthy || !strings.Contains(st.Ports, held) {
		t.Errorf("status of %s in process: healthy %v, ports %q, %v; want not healthy, saying %q", instB.Name, st.Healthy, st.Ports, err, held)
	}

	// The watcher's round alerts for B, with the holder, and not for A.
	a.Config.WatchFailures = 1
	w := a.NewWatcher()
	if w == nil {
		t.Fatal("no watcher (WATCH_INTERVAL 0)")
	}
	alerts := map[string]string{}
	for _, e := range w.Round(ctx) {
		if e.Kind == watch.Alerted {
			alerts[e.Key] = e.Problem
		}
	}
	if !strings.Contains(alerts[instB.Name], held) {
		t.Errorf("the watcher's alert for %s: %q, want it to say %q", instB.Name, alerts[instB.Name], held)
	}
	if p, ok := alerts[instA.Name]; ok {
		t.Errorf("the watcher alerted for %s, which serves on its own ports: %q", instA.Name, p)
	}
	requireAnswers(t, ctx, instA)

	// The capture ends: B starts and serves again.
	stopCapture()
	if !waitFor(30*time.Second, func() bool { return portFree(instB.Ports.HTTP) }) {
		t.Fatalf("port %d is still taken after the capture ended", instB.Ports.HTTP)
	}
	exec.CommandContext(ctx, "systemctl", "reset-failed", instB.Unit).Run()
	if out, err := odoobot("start", instB.Name); err != nil {
		if st, _ := a.Services.Status(ctx, instB.Unit); !st.Running() {
			t.Fatalf("start %s once its port is free: %v\n%s", instB.Name, err, out)
		}
	}
	if err := provision.CheckPortOwners(ports.Host{}, sysusers.Host{}, instB, a.Config.ServiceUser); err != nil || !waitFor(30*time.Second, func() bool { return probe.Healthy(ctx, instB.Ports.HTTP) }) {
		t.Fatalf("%s after the capture: %v, or not healthy", instB.Name, err)
	}
	out, err = odoobot("status", instB.Name)
	if err != nil || !strings.Contains(out, "healthy") || strings.Contains(out, "held by") {
		t.Errorf("status %s once its port is its own: %v\n%s", instB.Name, err, out)
	}
	requireAnswers(t, ctx, instB)
	requireAnswers(t, ctx, instA)
}

// captureAs runs capturer for port as uid:gid (no supplementary group,
// as runuser would) and returns a channel closed once it has bound the
// port, and stop, which kills it (also called when the test ends).
func captureAs(t *testing.T, uid, gid uint32, port int, by string) (bound <-chan struct{}, stop func()) {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", capturer, strconv.Itoa(port), by)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	ch := make(chan struct{})
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.TrimSpace(line) == "bound" {
			close(ch)
		}
		io.Copy(io.Discard, out)
	}()
	return ch, stop
}

// holdsPort reports whether a socket of uid listens on port, as the
// kernel's tables say.
func holdsPort(t *testing.T, port, uid int) bool {
	t.Helper()
	ls, err := listeners.Read(port)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.UID == uid {
			return true
		}
	}
	return false
}
