package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"odoobot/bot/slack"
	"odoobot/commands"
	"odoobot/provision"
)

// Test tokens: fake, but shaped like real ones so that a leak is visible.
const (
	botToken = "xoxb-1111111111-2222222222-botTOKENsecretVALUE"
	appToken = "xapp-1-A0123456-3333333333-appTOKENsecretVALUE"
)

// apiCall is one Web API request as the fake Slack saw it.
type apiCall struct {
	Method string
	Form   url.Values // form fields, or the JSON body's top-level strings
	Auth   string     // the Authorization header
	At     time.Time
	Status int    // the HTTP status the fake answered
	Err    string // the Slack error it answered, "" for ok
}

// fakeSlack is a Socket Mode + Web API server speaking Slack's wire format.
type fakeSlack struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	calls     []apiCall
	received  bytes.Buffer // every body, URL and header (Authorization excepted)
	opens     int
	openErr   string // apps.connections.open answers this error when set
	authErr   string // auth.test answers this error when set
	notIn     map[string]bool
	joinFails map[string]string // channel → conversations.join error
	ephFails  map[string]string // channel → chat.postEphemeral error
	limitOnce map[string]int    // method → how many 429s to answer first
	downOnce  map[string]int    // method → how many 503s to answer first
	groups    []map[string]any  // usergroups.list's user groups
	groupsErr string            // usergroups.list answers this error when set
	joined    map[string]bool
	ts        int
	files     map[string]string // file ID → uploaded content
	responses []map[string]any  // response_url bodies
	respFails int               // when set, response_url answers this status (an expired URL)
	conn      *wsConn
	conns     int
	sentAt    map[string]time.Time
	acks      chan ack
	connected chan struct{}
}

type ack struct {
	ID      string
	Latency time.Duration
}

type wsConn struct {
	mu sync.Mutex
	c  *websocket.Conn
}

func (w *wsConn) write(v any) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.c.WriteJSON(v)
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	fs := &fakeSlack{
		t: t, notIn: map[string]bool{}, joinFails: map[string]string{}, ephFails: map[string]string{},
		limitOnce: map[string]int{}, downOnce: map[string]int{}, joined: map[string]bool{}, files: map[string]string{},
		sentAt: map[string]time.Time{}, acks: make(chan ack, 1024), connected: make(chan struct{}, 16),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", fs.api)
	mux.HandleFunc("/link", fs.socket)
	mux.HandleFunc("/upload/", fs.upload)
	mux.HandleFunc("/response/", fs.response)
	fs.srv = httptest.NewServer(mux)
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeSlack) apiURL() string { return fs.srv.URL + "/api/" }

func (fs *fakeSlack) record(r *http.Request, body []byte) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fmt.Fprintf(&fs.received, "%s %s\n", r.Method, r.URL.String())
	for k, vs := range r.Header {
		if k != "Authorization" {
			fmt.Fprintf(&fs.received, "%s: %s\n", k, strings.Join(vs, ","))
		}
	}
	fs.received.Write(body)
	fs.received.WriteByte('\n')
}

// everything is all the fake received, but the Authorization headers.
func (fs *fakeSlack) everything() string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.received.String()
}

func parseBody(r *http.Request, body []byte) url.Values {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded":
		v, _ := url.ParseQuery(string(body))
		return v
	case "multipart/form-data":
		v := url.Values{}
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				return v
			}
			b, _ := io.ReadAll(p)
			v.Add(p.FormName(), string(b))
		}
	case "application/json":
		v := url.Values{}
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		for k, x := range m {
			if s, ok := x.(string); ok {
				v.Set(k, s)
			}
		}
		return v
	}
	return url.Values{}
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (fs *fakeSlack) api(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fs.record(r, body)
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	form := parseBody(r, body)
	call := apiCall{Method: method, Form: form, Auth: r.Header.Get("Authorization"), At: time.Now(), Status: 200}

	fs.mu.Lock()
	defer func() {
		fs.calls = append(fs.calls, call)
		fs.mu.Unlock()
	}()
	if n := fs.downOnce[method]; n > 0 {
		fs.downOnce[method] = n - 1
		call.Status = http.StatusServiceUnavailable
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if n := fs.limitOnce[method]; n > 0 {
		fs.limitOnce[method] = n - 1
		call.Status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	fail := func(code string) {
		call.Err = code
		reply(w, map[string]any{"ok": false, "error": code})
	}
	channel := form.Get("channel")
	switch method {
	case "auth.test":
		if fs.authErr != "" {
			fail(fs.authErr)
			return
		}
		reply(w, map[string]any{"ok": true, "user": "odoobot", "user_id": "U0BOT0001", "team": "Acme", "team_id": "T0123"})
	case "apps.connections.open":
		fs.opens++
		if fs.openErr != "" {
			fail(fs.openErr)
			return
		}
		reply(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(fs.srv.URL, "http") + "/link?ticket=" + strconv.Itoa(fs.opens)})
	case "chat.postMessage":
		if fs.notIn[channel] && !fs.joined[channel] {
			fail("not_in_channel")
			return
		}
		if strings.HasPrefix(channel, "G") {
			fail("channel_not_found")
			return
		}
		fs.ts++
		reply(w, map[string]any{"ok": true, "channel": channel, "ts": fmt.Sprintf("1700000000.%06d", fs.ts)})
	case "chat.update":
		reply(w, map[string]any{"ok": true, "channel": channel, "ts": form.Get("ts")})
	case "chat.postEphemeral":
		if code := fs.ephFails[channel]; code != "" {
			fail(code)
			return
		}
		fs.ts++
		reply(w, map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000000.%06d", fs.ts)})
	case "usergroups.list":
		if fs.groupsErr != "" {
			fail(fs.groupsErr)
			return
		}
		var out []map[string]any
		for _, g := range fs.groups {
			if form.Get("include_users") != "true" {
				g = map[string]any{"id": g["id"], "handle": g["handle"]}
			}
			out = append(out, g)
		}
		reply(w, map[string]any{"ok": true, "usergroups": out})
	case "conversations.join":
		if code := fs.joinFails[channel]; code != "" {
			fail(code)
			return
		}
		fs.joined[channel] = true
		reply(w, map[string]any{"ok": true, "channel": map[string]any{"id": channel}})
	case "files.getUploadURLExternal":
		id := fmt.Sprintf("F%08d", len(fs.files)+1)
		fs.files[id] = ""
		reply(w, map[string]any{"ok": true, "upload_url": fs.srv.URL + "/upload/" + id, "file_id": id})
	case "files.completeUploadExternal":
		if fs.notIn[form.Get("channel_id")] && !fs.joined[form.Get("channel_id")] {
			fail("not_in_channel")
			return
		}
		var files []map[string]any
		_ = json.Unmarshal([]byte(form.Get("files")), &files)
		reply(w, map[string]any{"ok": true, "files": files})
	default:
		call.Status = 404
		http.NotFound(w, r)
	}
}

func (fs *fakeSlack) upload(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fs.record(r, body)
	form := parseBody(r, body)
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	fs.mu.Lock()
	fs.files[id] = form.Get("file")
	fs.mu.Unlock()
	fmt.Fprintf(w, "OK - %d", len(form.Get("file")))
}

func (fs *fakeSlack) response(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fs.record(r, body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	fs.mu.Lock()
	fs.responses = append(fs.responses, m)
	status := fs.respFails
	fs.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket is the Socket Mode WebSocket: hello, then the envelopes the test
// sends; every frame read back is an ack.
func (fs *fakeSlack) socket(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn := &wsConn{c: c}
	fs.mu.Lock()
	fs.conns++
	fs.conn = conn
	n := fs.conns
	fs.mu.Unlock()
	_ = conn.write(map[string]any{
		"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": "A0123456"},
	})
	fs.connected <- struct{}{}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
			}
		}
	}()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		var a struct {
			EnvelopeID string `json:"envelope_id"`
		}
		if json.Unmarshal(msg, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		fs.mu.Lock()
		sent := fs.sentAt[a.EnvelopeID]
		fs.mu.Unlock()
		fs.acks <- ack{ID: a.EnvelopeID, Latency: now.Sub(sent)}
	}
}

// waitConnected waits for the n-th WebSocket connection.
func (fs *fakeSlack) waitConnected(t testing.TB) {
	t.Helper()
	select {
	case <-fs.connected:
	case <-time.After(5 * time.Second):
		t.Fatal("the bot did not connect to Socket Mode within 5s")
	}
}

// send writes a frame on the current connection, noting when it left
// (after encoding, so that the fake's own JSON work is not counted).
func (fs *fakeSlack) send(t testing.TB, frame map[string]any) {
	t.Helper()
	msg, err := json.Marshal(frame)
	if err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	conn := fs.conn
	if id, ok := frame["envelope_id"].(string); ok {
		if _, again := fs.sentAt[id]; !again {
			fs.sentAt[id] = time.Now()
		}
	}
	fs.mu.Unlock()
	if conn == nil {
		t.Fatal("no Socket Mode connection")
	}
	conn.mu.Lock()
	err = conn.c.WriteMessage(websocket.TextMessage, msg)
	conn.mu.Unlock()
	if err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// slash is a slash_commands envelope exactly as Slack sends it.
func (fs *fakeSlack) slash(envelope string, retry int, user, name, channel, text string) map[string]any {
	return map[string]any{
		"envelope_id":              envelope,
		"type":                     "slash_commands",
		"accepts_response_payload": true,
		"retry_attempt":            retry,
		"retry_reason":             map[bool]string{true: "timeout", false: ""}[retry > 0],
		"payload": map[string]any{
			"token": "legacyverificationtoken", "team_id": "T0123", "team_domain": "acme",
			"channel_id": channel, "channel_name": "ops", "user_id": user, "user_name": name,
			"command": "/odoo", "text": text, "api_app_id": "A0123456", "is_enterprise_install": "false",
			"response_url": fs.srv.URL + "/response/" + envelope,
			"trigger_id":   "1337.42." + envelope,
		},
	}
}

// waitAck waits for the ack of envelope and returns its latency.
func (fs *fakeSlack) waitAck(t testing.TB, envelope string) time.Duration {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case a := <-fs.acks:
			if a.ID == envelope {
				return a.Latency
			}
		case <-deadline:
			t.Fatalf("no ack for envelope %s within 5s", envelope)
		}
	}
}

// callsOf returns the successful calls of method, in order.
func (fs *fakeSlack) callsOf(method string) []apiCall {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []apiCall
	for _, c := range fs.calls {
		if c.Method == method && c.Status == 200 && c.Err == "" {
			out = append(out, c)
		}
	}
	return out
}

func (fs *fakeSlack) allCalls() []apiCall {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]apiCall(nil), fs.calls...)
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkAuth fails the test if a Web API call did not carry the right
// token in its Authorization header.
func (fs *fakeSlack) checkAuth(t testing.TB) {
	t.Helper()
	for _, c := range fs.allCalls() {
		want := "Bearer " + botToken
		if c.Method == "apps.connections.open" {
			want = "Bearer " + appToken
		}
		if c.Auth != want {
			t.Errorf("%s: Authorization = %q, want the %s token", c.Method, c.Auth, map[bool]string{true: "app", false: "bot"}[c.Method == "apps.connections.open"])
		}
	}
}

// memJobs is an in-memory provision.JobStore.
type memJobs struct {
	mu     sync.Mutex
	events []provision.Event
	states map[int64]provision.JobState
}

func (m *memJobs) StartJob(context.Context, int64) error { return nil }
func (m *memJobs) AppendEvent(_ context.Context, e provision.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	return nil
}
func (m *memJobs) FinishJob(_ context.Context, id int64, s provision.JobState, _ string, _ []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.states == nil {
		m.states = map[int64]provision.JobState{}
	}
	m.states[id] = s
	return nil
}

// fakeCreator queues a creation of fake steps on a real provision.Runner.
// With a password, a succeeded creation reveals it, as provision does.
type fakeCreator struct {
	runner   *provision.Runner
	steps    []provision.Step
	password string
	mu       sync.Mutex
	reqs     []provision.CreateRequest
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

func (c *fakeCreator) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

func newCreator(t testing.TB, stepNames ...provision.StepName) *fakeCreator {
	t.Helper()
	r := provision.NewRunner(provision.RunnerConfig{Store: &memJobs{}, Workers: 2})
	t.Cleanup(r.Close)
	c := &fakeCreator{runner: r}
	for _, n := range stepNames {
		c.steps = append(c.steps, provision.Step{
			Name:  n,
			Apply: func(context.Context) error { time.Sleep(40 * time.Millisecond); return nil },
			Undo:  func(context.Context) error { return nil },
		})
	}
	return c
}

const allowlistText = `
admin    slack user U0123ABCD
viewer   slack user U0999VIEW
operator slack user U0888OPER
`

func newDispatcher(t testing.TB, c commands.Creator, summary string) *commands.Dispatcher {
	t.Helper()
	al, err := commands.ParseAllowlist(strings.NewReader(allowlistText), "allowlist")
	if err != nil {
		t.Fatal(err)
	}
	return &commands.Dispatcher{
		Allowlist: al, Rules: provision.NameRules{Zone: "example.com"}, Mode: provision.SSLHTTP,
		Creator: c, Summary: func(context.Context, string) string { return summary },
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

// running is a Bot connected to a fake Slack.
type running struct {
	bot  *slack.Bot
	logs *logBuffer
	done chan error
}

// startBot runs a Bot against fs until the test ends; cfg's tokens, API
// URL and logger are filled in.
func startBot(t testing.TB, fs *fakeSlack, cfg slack.Config) *running {
	t.Helper()
	logs := &logBuffer{}
	cfg.BotToken, cfg.AppToken, cfg.APIURL = botToken, appToken, fs.apiURL()
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.UpdateInterval == 0 {
		cfg.UpdateInterval = 100 * time.Millisecond
	}
	b, err := slack.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rb := &running{bot: b, logs: logs, done: make(chan error, 1)}
	go func() { rb.done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-rb.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return within 5s of cancellation")
		}
	})
	return rb
}
