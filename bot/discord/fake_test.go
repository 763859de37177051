package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"odoobot/commands"
	"odoobot/provision"
)

// Test identifiers: snowflakes as Discord sends them, and a bot token
// shaped like a real one so that a leak is visible.
const (
	testToken   = "MTExMTExMTExMTExMTExMTEx.GaBcDe.tokenSECRETvalueXYZ0123456789abcdefg"
	testApp     = "123456789012345678"
	testGuild   = "223456789012345678"
	testChannel = "323456789012345678"
	adminID     = "112233445566778899"
	viewerRole  = "998877665544332211"
	opRole      = "887766554433221100"
	dmChannel   = "523456789012345678"
)

const allowlistText = `
admin   discord user 112233445566778899
viewer  discord role 998877665544332211
operator discord role 887766554433221100
`

// apiCall is one REST request as the fake Discord saw it.
type apiCall struct {
	Method string
	Path   string         // without the /api/v10 prefix
	Query  string         // the raw query
	Auth   string         // the Authorization header
	JSON   map[string]any // the JSON body, or a multipart request's payload_json
	Body   []byte         // the raw body
	Files  map[string]string
}

// fakeDiscord is an httptest server answering discordgo's REST calls the
// way Discord does, recording each.
type fakeDiscord struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	calls     []apiCall
	received  bytes.Buffer      // every URL, header and body, Authorization excepted
	originals map[string]string // interaction token → the original response's message ID
	nextID    int64
	status    map[string]int // "METHOD /path regexp" → status to answer instead
	times     map[string]int // "METHOD /path regexp" → how many more times status applies; absent: always
	changed   chan struct{}
	gw        *fakeGateway // the gateway that GET /gateway names
}

func newFakeDiscord(t testing.TB) *fakeDiscord {
	t.Helper()
	fd := &fakeDiscord{t: t, originals: map[string]string{}, nextID: 900000000000000000, status: map[string]int{}, times: map[string]int{}, changed: make(chan struct{}, 1), gw: &fakeGateway{heartbeat: 45000}}
	fd.srv = httptest.NewServer(http.HandlerFunc(fd.serve))
	t.Cleanup(fd.srv.Close)
	return fd
}

func (fd *fakeDiscord) apiURL() string { return fd.srv.URL + "/api/v10/" }

func (fd *fakeDiscord) id() string {
	fd.nextID++
	return strconv.FormatInt(fd.nextID, 10)
}

var (
	reCallback = regexp.MustCompile(`^/interactions/[0-9]+/[^/]+/callback$`)
	reOriginal = regexp.MustCompile(`^/webhooks/[0-9]+/([^/]+)/messages/@original$`)
	reFollowup = regexp.MustCompile(`^/webhooks/[0-9]+/[^/]+$`)
	reThread   = regexp.MustCompile(`^/channels/([0-9]+)/messages/[0-9]+/threads$`)
	rePost     = regexp.MustCompile(`^/channels/([0-9]+)/messages$`)
	reEdit     = regexp.MustCompile(`^/channels/([0-9]+)/messages/([0-9]+)$`)
	reCommands = regexp.MustCompile(`^/applications/[0-9]+(/guilds/[0-9]+)?/commands$`)
)

func (fd *fakeDiscord) serve(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") == "/gateway" {
		fd.gateway(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v10")
	call := apiCall{Method: r.Method, Path: path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body, Files: map[string]string{}}
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		_ = json.Unmarshal(body, &call.JSON)
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "payload_json" {
				_ = json.Unmarshal(b, &call.JSON)
			} else {
				call.Files[p.FileName()] = string(b)
			}
		}
	}

	fd.mu.Lock()
	defer func() {
		fd.mu.Unlock()
		select {
		case fd.changed <- struct{}{}:
		default:
		}
	}()
	fmt.Fprintf(&fd.received, "%s %s\n", r.Method, r.URL.String())
	for k, vs := range r.Header {
		if k != "Authorization" {
			fmt.Fprintf(&fd.received, "%s: %s\n", k, strings.Join(vs, ","))
		}
	}
	fd.received.Write(body)
	fd.received.WriteByte('\n')
	fd.calls = append(fd.calls, call)

	for pattern, code := range fd.status {
		method, re, _ := strings.Cut(pattern, " ")
		if method == r.Method && regexp.MustCompile(re).MatchString(path) {
			if n, ok := fd.times[pattern]; ok {
				if n == 0 {
					continue
				}
				fd.times[pattern] = n - 1
			}
			if code == dropConnection {
				if hj, ok := w.(http.Hijacker); ok {
					if conn, _, err := hj.Hijack(); err == nil {
						conn.Close()
					}
				}
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"message": "fake error %d", "code": 0}`, code)
			return
		}
	}
	message := func(channel, id string) {
		writeJSON(w, map[string]any{"id": id, "channel_id": channel, "content": call.JSON["content"], "type": 0})
	}
	switch {
	case r.Method == http.MethodPost && reCallback.MatchString(path):
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPatch && reOriginal.MatchString(path):
		token := reOriginal.FindStringSubmatch(path)[1]
		if fd.originals[token] == "" {
			fd.originals[token] = fd.id()
		}
		message(testChannel, fd.originals[token])
	case r.Method == http.MethodDelete && reOriginal.MatchString(path):
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && reFollowup.MatchString(path):
		message(testChannel, fd.id())
	case r.Method == http.MethodPost && reThread.MatchString(path):
		writeJSON(w, map[string]any{"id": fd.id(), "type": 11, "parent_id": reThread.FindStringSubmatch(path)[1], "name": call.JSON["name"]})
	case r.Method == http.MethodPost && rePost.MatchString(path):
		message(rePost.FindStringSubmatch(path)[1], fd.id())
	case r.Method == http.MethodPatch && reEdit.MatchString(path):
		m := reEdit.FindStringSubmatch(path)
		message(m[1], m[2])
	case r.Method == http.MethodGet && path == "/gateway":
		writeJSON(w, map[string]any{"url": "ws" + strings.TrimPrefix(fd.srv.URL, "http") + "/gateway"})
	case r.Method == http.MethodPost && path == "/users/@me/channels":
		writeJSON(w, map[string]any{"id": dmChannel, "type": 1, "recipients": []map[string]any{{"id": call.JSON["recipient_id"]}}})
	case r.Method == http.MethodPut && reCommands.MatchString(path):
		var cmds []map[string]any
		_ = json.Unmarshal(body, &cmds)
		for _, c := range cmds {
			c["id"], c["application_id"] = fd.id(), testApp
		}
		writeJSON(w, cmds)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message": "404: Not Found", "code": 0}`)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fail makes requests matching "METHOD path-regexp" answer code.
func (fd *fakeDiscord) fail(pattern string, code int) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	fd.status[pattern] = code
}

// dropConnection, given to failTimes as the code, closes the connection
// without an answer.
const dropConnection = -1

// failTimes makes the next n requests matching "METHOD path-regexp"
// answer code (or drop the connection, for dropConnection).
func (fd *fakeDiscord) failTimes(pattern string, code, n int) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	fd.status[pattern] = code
	fd.times[pattern] = n
}

func (fd *fakeDiscord) snapshot() []apiCall {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return append([]apiCall(nil), fd.calls...)
}

// everything is all the fake received but the Authorization headers.
func (fd *fakeDiscord) everything() string {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	return fd.received.String()
}

// waitFor waits until some recorded call satisfies ok, and returns the
// calls so far.
func (fd *fakeDiscord) waitFor(t testing.TB, what string, ok func(apiCall) bool) []apiCall {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		calls := fd.snapshot()
		for _, c := range calls {
			if ok(c) {
				return calls
			}
		}
		select {
		case <-fd.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within 5s; calls:\n%s", what, describe(calls))
		}
	}
}

func describe(calls []apiCall) string {
	var b strings.Builder
	for _, c := range calls {
		fmt.Fprintf(&b, "  %s %s %v files=%d\n", c.Method, c.Path, c.JSON, len(c.Files))
	}
	return b.String()
}

func (c apiCall) str(key string) string {
	s, _ := c.JSON[key].(string)
	return s
}

func (c apiCall) flags() int {
	f, _ := c.JSON["flags"].(float64)
	return int(f)
}

// memJobs is an in-memory provision.JobStore.
type memJobs struct {
	mu     sync.Mutex
	states map[int64]provision.JobState
}

func (m *memJobs) StartJob(context.Context, int64) error              { return nil }
func (m *memJobs) AppendEvent(context.Context, provision.Event) error { return nil }
func (m *memJobs) FinishJob(_ context.Context, id int64, s provision.JobState, _ string, _ []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[int64]provision.JobState{}
	}
	m.states[id] = s
	return nil
}

// fakeCreator queues a creation of quick steps on a real provision.Runner.
// With a password, a succeeded creation reveals it, as provision does.
type fakeCreator struct {
	runner   *provision.Runner
	steps    []provision.Step
	password string
	mu       sync.Mutex
	reqs     []provision.CreateRequest
}

func newCreator(t testing.TB, names ...provision.StepName) *fakeCreator {
	t.Helper()
	r := provision.NewRunner(provision.RunnerConfig{Store: &memJobs{}, Workers: 1})
	t.Cleanup(r.Close)
	c := &fakeCreator{runner: r}
	for _, n := range names {
		c.steps = append(c.steps, provision.Step{
			Name:  n,
			Apply: func(context.Context) error { time.Sleep(10 * time.Millisecond); return nil },
		})
	}
	return c
}

func (c *fakeCreator) Create(_ context.Context, req provision.CreateRequest) (*provision.Task, error) {
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	id := int64(len(c.reqs))
	c.mu.Unlock()
	finished := req.Finished
	if c.password != "" && req.RevealAdmin != nil {
		finished = func(j provision.Job) {
			if j.State == provision.JobSucceeded {
				req.RevealAdmin(context.Background(), c.password)
			}
			req.Finished(j)
		}
	}
	t := &provision.Task{
		Job:   provision.Job{ID: id, Kind: provision.JobCreate, Instance: req.Name, State: provision.JobQueued, RequestedBy: req.By},
		Steps: c.steps, Subscribe: req.Subscribe, Finished: finished,
	}
	return t, c.runner.Submit(t)
}

func (c *fakeCreator) requests() []provision.CreateRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]provision.CreateRequest(nil), c.reqs...)
}

// fakeInstances is a provision.InstanceLookup holding fixed instances.
type fakeInstances []provision.Instance

func (f fakeInstances) Instance(_ context.Context, name string) (provision.Instance, error) {
	for _, i := range f {
		if i.Name == name {
			return i, nil
		}
	}
	return provision.Instance{}, provision.ErrInstanceNotFound
}
func (f fakeInstances) Instances(context.Context) ([]provision.Instance, error) { return f, nil }
func (f fakeInstances) ActiveJob(context.Context, string) (provision.Job, bool, error) {
	return provision.Job{}, false, nil
}

// memAudit records audit entries.
type memAudit struct {
	mu      sync.Mutex
	entries []provision.AuditEntry
}

func (a *memAudit) RecordAudit(_ context.Context, e provision.AuditEntry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return nil
}

func (a *memAudit) OpenAudit(_ context.Context, e provision.AuditEntry) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return int64(len(a.entries) - 1), nil
}

func (a *memAudit) CloseAudit(_ context.Context, id int64, outcome string, d time.Duration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries[id].Outcome, a.entries[id].Duration = outcome, d
	return nil
}

func (a *memAudit) all() []provision.AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]provision.AuditEntry(nil), a.entries...)
}

// newDispatcher is the real dispatcher with the test allowlist.
func newDispatcher(t testing.TB, c commands.Creator, op *provision.Operator, audit commands.Auditor) *commands.Dispatcher {
	t.Helper()
	al, err := commands.ParseAllowlist(strings.NewReader(allowlistText), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	return &commands.Dispatcher{
		Allowlist: al, Auditor: audit, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		Creator: c, Operator: op,
		Summary: func(context.Context, string) string { return "name: acme\nurl: http://acme.example.com" },
	}
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// member is who sends an interaction in a guild.
type member struct {
	ID, Name string
	Roles    []string
}

// slash is an /odoo interaction as the gateway delivers it, decoded by
// discordgo. opts are name, value pairs; a value is a string or an int.
func slash(t testing.TB, id, token string, m member, sub string, opts ...any) *discordgo.InteractionCreate {
	t.Helper()
	var options []map[string]any
	for k := 0; k+1 < len(opts); k += 2 {
		o := map[string]any{"name": opts[k], "value": opts[k+1], "type": 3}
		switch opts[k+1].(type) {
		case int:
			o["type"] = 4
		case bool:
			o["type"] = 5
		}
		options = append(options, o)
	}
	data := map[string]any{"id": "423456789012345678", "name": "odoo", "type": 1,
		"options": []map[string]any{{"name": sub, "type": 1, "options": options}}}
	return decode(t, interactionJSON(id, token, 2, m, data, nil))
}

// click is a click on a button of an ephemeral message.
func click(t testing.TB, id, token string, m member, customID string) *discordgo.InteractionCreate {
	t.Helper()
	data := map[string]any{"custom_id": customID, "component_type": 2}
	msg := map[string]any{"id": "523456789012345678", "channel_id": testChannel, "content": "⚠ delete prod-acme", "flags": 64}
	return decode(t, interactionJSON(id, token, 3, m, data, msg))
}

func interactionJSON(id, token string, typ int, m member, data, msg map[string]any) map[string]any {
	v := map[string]any{
		"id": id, "application_id": testApp, "type": typ, "token": token, "version": 1,
		"guild_id": testGuild, "channel_id": testChannel, "data": data,
		"member": map[string]any{"user": map[string]any{"id": m.ID, "username": m.Name}, "roles": m.Roles, "nick": nil},
	}
	if msg != nil {
		v["message"] = msg
	}
	return v
}

func decode(t testing.TB, v map[string]any) *discordgo.InteractionCreate {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var ic discordgo.InteractionCreate
	if err := json.Unmarshal(b, &ic); err != nil {
		t.Fatal(err)
	}
	return &ic
}

// newBot is a Bot talking to fd, logging at debug level into logs.
func newBot(t testing.TB, fd *fakeDiscord, h Handler, logs *logBuffer) *Bot {
	t.Helper()
	b, err := New(Config{Token: testToken, AppID: testApp, GuildID: testGuild, APIURL: fd.apiURL(), Handler: h,
		Logger: slogJSON(logs)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
