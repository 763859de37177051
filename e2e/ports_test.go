package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"odoobot/internal/app"
	"odoobot/provision/systemd"
)

// bindProbe binds 127.0.0.1:PORT once a line arrives on stdin and says
// "bound" or "errno N".
const bindProbe = `import socket, sys
sys.stdin.readline()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
    print("bound")
except OSError as e:
    print("errno", e.errno)
`

// TestUnitBindsOnlyItsOwnPorts: instance A's unit allows binds on its two
// ports and denies every other; while its neighbour B is stopped, code
// running as A's user in A's unit (its cgroup, where systemd attached
// the bind filter) cannot bind B's HTTP or websocket port, which a
// process of the same user outside the unit can; A serves throughout,
// and B serves again once started.
func TestUnitBindsOnlyItsOwnPorts(t *testing.T) {
	needSandbox(t)
	env := newCreateEnv(t)
	a, _ := env.newApp(t, app.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	instA := createReady(t, ctx, a, uniqueName(t, "bind-a"))
	instB := createReady(t, ctx, a, uniqueName(t, "bind-b"))

	unit := readFile(a.Config.Layout().Paths(instA).Unit)
	for _, l := range []string{
		fmt.Sprintf("SocketBindAllow=tcp:%d", instA.Ports.HTTP),
		fmt.Sprintf("SocketBindAllow=tcp:%d", instA.Ports.Gevent),
		"SocketBindDeny=any",
	} {
		if !strings.Contains(unit, "\n"+l+"\n") {
			t.Errorf("%s lacks %s", instA.Unit, l)
		}
	}

	// systemd loaded them as they are written (systemd 252 prints an
	// allow rule without its colon: tcp2100).
	show, err := exec.CommandContext(ctx, "systemctl", "show", instA.Unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemctl show %s: %v\n%s", instA.Unit, err, show)
	}
	props := map[string][]string{}
	for _, l := range strings.Split(string(show), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "SocketBind") {
			props[k] = append(props[k], strings.ReplaceAll(v, ":", ""))
		}
	}
	slices.Sort(props["SocketBindAllow"])
	want := []string{fmt.Sprintf("tcp%d", instA.Ports.HTTP), fmt.Sprintf("tcp%d", instA.Ports.Gevent)}
	slices.Sort(want)
	if !slices.Equal(props["SocketBindAllow"], want) || !slices.Equal(props["SocketBindDeny"], []string{"any"}) {
		t.Errorf("systemd holds for %s: %q; want binds allowed on tcp %d and %d only, every other denied", instA.Unit, props, instA.Ports.HTTP, instA.Ports.Gevent)
	}
	// systemd enforces them with a BPF program on the unit's cgroup of
	// the unified hierarchy, which it attaches only when the host runs
	// cgroup v2 alone (Debian 12's default); on a hybrid host it loads
	// them and enforces nothing.
	if err := systemd.BindFilterEnforced(); err != nil {
		t.Skipf("not enforced on this host: %v; the unit and systemd's view of it are checked above", err)
	}

	if err := a.Operator.Stop(ctx, instB.Name, "e2e"); err != nil {
		t.Fatalf("stop %s: %v", instB.Name, err)
	}
	t.Cleanup(func() { _ = a.Operator.Start(context.Background(), instB.Name) })
	for _, p := range []int{instB.Ports.HTTP, instB.Ports.Gevent} {
		if !waitFor(30*time.Second, func() bool { return portFree(p) }) {
			t.Fatalf("port %d of the stopped %s is still taken", p, instB.Name)
		}
	}
	st, err := a.Services.Status(ctx, instA.Unit)
	if err != nil || st.MainPID == 0 {
		t.Fatalf("status %s: %+v, %v", instA.Unit, st, err)
	}
	cgroup := unitCgroup(t, st.MainPID)
	u, err := user.Lookup(instA.User)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	// The probe itself can bind: outside the unit, as the same user, B's
	// port is free for the taking.
	if got := bindAs(t, uint32(uid), uint32(gid), "", instB.Ports.HTTP); got != "bound" {
		t.Fatalf("as %s outside its unit, binding %d answered %q; want bound (the probe is broken)", instA.User, instB.Ports.HTTP, got)
	}
	for _, p := range []int{instB.Ports.HTTP, instB.Ports.Gevent} {
		got := bindAs(t, uint32(uid), uint32(gid), cgroup, p)
		if got != fmt.Sprintf("errno %d", syscall.EPERM) && got != fmt.Sprintf("errno %d", syscall.EACCES) {
			t.Errorf("in %s, as %s, binding %s's port %d answered %q; want EPERM or EACCES", instA.Unit, instA.User, instB.Name, p, got)
		}
	}
	requireAnswers(t, ctx, instA)

	if err := a.Operator.Start(ctx, instB.Name); err != nil {
		t.Fatalf("start %s: %v", instB.Name, err)
	}
	requireAnswers(t, ctx, instB)
}

// portFree reports whether nothing listens on 127.0.0.1:p.
func portFree(p int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), time.Second)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// unitCgroup is the cgroup directory of process pid (cgroup v2).
func unitCgroup(t *testing.T, pid uint32) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if rest, ok := strings.CutPrefix(l, "0::"); ok {
			return filepath.Join("/sys/fs/cgroup", rest)
		}
	}
	t.Fatalf("process %d has no cgroup v2 line: %q", pid, b)
	return ""
}

// bindAs runs bindProbe for port as uid:gid, first moved into cgroup
// when it is not "", and returns its answer.
func bindAs(t *testing.T, uid, gid uint32, cgroup string, port int) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", bindProbe, strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	if cgroup != "" {
		if err := os.WriteFile(filepath.Join(cgroup, "cgroup.procs"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			cmd.Process.Kill()
			t.Fatalf("move the probe into %s: %v", cgroup, err)
		}
	}
	if _, err := io.WriteString(in, "go\n"); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	return strings.TrimSpace(line)
}
