// Package slacktest is a test double of Slack: an HTTP server that
// speaks Slack's real wire format, so that a bot built on slack-go (or
// the odoobot binary itself, pointed at it with SLACK_API_URL) runs
// unchanged against it.
//
// It serves both halves of a Socket Mode app:
//
//   - the Web API under /api/: auth.test, apps.connections.open (which
//     names the WebSocket), chat.postMessage (answering ts
//     1700000000.000001, .000002, … in order), chat.update,
//     chat.postEphemeral, conversations.join, usergroups.list and the
//     two calls of a file upload (the content is kept, see File). Every
//     request is recorded as a Call; everything received but the
//     Authorization header is kept (Everything), so that a test can look
//     for a leaked token;
//   - Socket Mode: a WebSocket at /link that sends hello, pings every
//     2 s, delivers the envelopes a test sends (Slash and Click build
//     them as Slack does) and reads acks back (Acks);
//   - response_url: POSTs under /response/ are kept (Responses);
//   - modals: views.open opens a view (Views) when its trigger_id is one
//     the double sent (in a slash command or a click) less than 3 s ago
//     and not used yet, as Slack requires (else expired_trigger_id or
//     invalid_trigger_id); Submit and Suggestion build the
//     view_submission and block_suggestion envelopes of an open view, and
//     the acks that answer them carry their payload (Ack.Payload: a
//     response_action, the options);
//   - App Home: HomeOpened builds an app_home_opened event envelope, and
//     views.publish is checked as Slack checks it (a user_id, a view of
//     type home, at most 100 blocks, unique block_ids, a section's text
//     at most 3000 characters, a header's 150; else invalid_arguments or
//     invalid_blocks) and kept (Published).
//
// Faults are set per method or channel: a channel the bot is not in, a
// refused join or ephemeral message, rate limits (429 with Retry-After),
// outages (503), any HTTP status without a header (FailStatus), slow
// answers (Delay), a refused token.
package slacktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Options names the workspace and the app the double plays.
type Options struct {
	BotUserID string // default U0BOT0001
	TeamID    string // default T0123
	Team      string // the workspace's name and domain, default acme
	AppID     string // default A0123456
}

// Call is one Web API request as the double saw it.
type Call struct {
	Method string
	Form   url.Values // form fields, or the JSON body's top-level strings
	Auth   string     // the Authorization header
	At     time.Time
	Status int    // the HTTP status the double answered
	Err    string // the Slack error it answered, "" for ok
	TS     string // the ts it answered to a chat.postMessage
}

// Ack is the bot's acknowledgement of an envelope, and how long after
// the envelope was sent it came.
type Ack struct {
	ID      string
	Latency time.Duration
	// Payload is the ack's payload, nil when it carries none: the
	// answer to a view_submission ({"response_action": "errors", …}) or
	// a block_suggestion ({"options": […]}).
	Payload json.RawMessage
}

// View is a modal opened with views.open, as last updated with
// views.update.
type View struct {
	ID        string         // V00000001, V00000002, … in order
	TriggerID string         // the trigger it was opened with
	Spec      map[string]any // the view as the bot sent it
	// Hash is the view's current hash: views.update refuses a hash that
	// is not it (hash_conflict), and a successful update changes it.
	Hash    string
	Updates int // how many views.update calls changed it
}

// Context is the text of the context block blockID of the view ("" when
// there is none): its elements' texts, one a line.
func (v View) Context(blockID string) string {
	for _, b := range v.Blocks() {
		if b["block_id"] != blockID || b["type"] != "context" {
			continue
		}
		var lines []string
		elems, _ := b["elements"].([]any)
		for _, e := range elems {
			if m, ok := e.(map[string]any); ok {
				lines = append(lines, fmt.Sprint(m["text"]))
			}
		}
		return strings.Join(lines, "\n")
	}
	return ""
}

// CallbackID is the view's callback_id.
func (v View) CallbackID() string { s, _ := v.Spec["callback_id"].(string); return s }

// PrivateMetadata is the view's private_metadata.
func (v View) PrivateMetadata() string { s, _ := v.Spec["private_metadata"].(string); return s }

// Blocks are the view's blocks.
func (v View) Blocks() []map[string]any {
	var out []map[string]any
	bs, _ := v.Spec["blocks"].([]any)
	for _, b := range bs {
		if m, ok := b.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// Element is the element of the input block blockID, nil when there is
// none.
func (v View) Element(blockID string) map[string]any {
	for _, b := range v.Blocks() {
		if b["block_id"] == blockID {
			e, _ := b["element"].(map[string]any)
			return e
		}
	}
	return nil
}

// Options are the values of the options of the static select of the
// input block blockID.
func (v View) Options(blockID string) []string {
	var out []string
	e := v.Element(blockID)
	opts, _ := e["options"].([]any)
	for _, o := range opts {
		if m, ok := o.(map[string]any); ok {
			out = append(out, fmt.Sprint(m["value"]))
		}
	}
	return out
}

// Server is the double. Make one with New; it stops when the test ends.
type Server struct {
	opts Options
	srv  *httptest.Server

	mu        sync.Mutex
	calls     []Call
	received  bytes.Buffer
	opens     int
	openErr   string
	authErr   string
	notIn     map[string]bool
	joinFails map[string]string
	ephFails  map[string]string
	limitOnce map[string]int
	downOnce  map[string]int
	failOnce  map[string]failing
	delays    map[string]time.Duration
	groups    []map[string]any
	groupsErr string
	joined    map[string]bool
	ts        int
	files     map[string]string
	fileIDs   []string
	responses []map[string]any
	respFails int
	triggers  map[string]time.Time // trigger_id → when it was sent
	views     []View
	published []Published
	conn      *websocket.Conn
	conns     int
	sentAt    map[string]time.Time

	wmu       sync.Mutex // serialises writes on the WebSocket
	acks      chan Ack
	connected chan struct{}
}

// New starts a double for the test t.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.BotUserID == "" {
		o.BotUserID = "U0BOT0001"
	}
	if o.TeamID == "" {
		o.TeamID = "T0123"
	}
	if o.Team == "" {
		o.Team = "acme"
	}
	if o.AppID == "" {
		o.AppID = "A0123456"
	}
	s := &Server{
		opts: o, notIn: map[string]bool{}, joinFails: map[string]string{}, ephFails: map[string]string{},
		limitOnce: map[string]int{}, downOnce: map[string]int{}, failOnce: map[string]failing{}, delays: map[string]time.Duration{}, joined: map[string]bool{}, files: map[string]string{},
		sentAt: map[string]time.Time{}, triggers: map[string]time.Time{}, acks: make(chan Ack, 1024), connected: make(chan struct{}, 16),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.api)
	mux.HandleFunc("/link", s.socket)
	mux.HandleFunc("/upload/", s.upload)
	mux.HandleFunc("/response/", s.response)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		s.Drop()
		s.srv.Close()
	})
	return s
}

// APIURL is the Web API's base URL, with its trailing slash.
func (s *Server) APIURL() string { return s.srv.URL + "/api/" }

// ResponseURL is the response_url of envelope.
func (s *Server) ResponseURL(envelope string) string { return s.srv.URL + "/response/" + envelope }

// Everything is all the double received, but the Authorization headers.
func (s *Server) Everything() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received.String()
}

// Calls are all the Web API calls, in order, failed ones included.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf are the calls of method that succeeded, in order.
func (s *Server) CallsOf(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method && c.Status == http.StatusOK && c.Err == "" {
			out = append(out, c)
		}
	}
	return out
}

// File is the content uploaded as file id (F00000001, F00000002, … in
// order), "" when there is none.
func (s *Server) File(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id]
}

// Responses are the bodies POSTed to response URLs, in order.
func (s *Server) Responses() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.responses...)
}

// Views are the modals opened, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.views...)
}

// Published is a home view published with views.publish.
type Published struct {
	User string // the user_id it was published for
	View
}

// Text is the view as a reader sees it: each block's text on its
// lines, a divider as "---".
func (p Published) Text() string {
	var lines []string
	for _, b := range p.Blocks() {
		switch b["type"] {
		case "divider":
			lines = append(lines, "---")
		case "context":
			els, _ := b["elements"].([]any)
			for _, e := range els {
				if m, ok := e.(map[string]any); ok {
					lines = append(lines, fmt.Sprint(m["text"]))
				}
			}
		default:
			if t, ok := b["text"].(map[string]any); ok {
				lines = append(lines, fmt.Sprint(t["text"]))
			}
		}
	}
	return strings.Join(lines, "\n")
}

// PublishedViews are the home views published, in order.
func (s *Server) PublishedViews() []Published {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Published(nil), s.published...)
}

// checkBlocks is what Slack refuses in a view's blocks, "" when nothing.
func checkBlocks(blocks []map[string]any) string {
	if len(blocks) > 100 {
		return fmt.Sprintf("%d blocks, more than 100", len(blocks))
	}
	ids := map[string]bool{}
	textOf := func(b map[string]any) string {
		t, _ := b["text"].(map[string]any)
		s, _ := t["text"].(string)
		return s
	}
	for i, b := range blocks {
		if id, _ := b["block_id"].(string); id != "" {
			if ids[id] {
				return fmt.Sprintf("block %d: block_id %q is not unique", i, id)
			}
			ids[id] = true
		}
		switch b["type"] {
		case "section":
			if n := len([]rune(textOf(b))); n > 3000 || n == 0 {
				return fmt.Sprintf("block %d: a section's text of %d characters (1 to 3000)", i, n)
			}
		case "header":
			if n := len([]rune(textOf(b))); n > 150 || n == 0 {
				return fmt.Sprintf("block %d: a header's text of %d characters (1 to 150)", i, n)
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				return fmt.Sprintf("block %d: a context of %d elements (1 to 10)", i, len(els))
			}
			for _, e := range els {
				m, _ := e.(map[string]any)
				if s, _ := m["text"].(string); len([]rune(s)) > 3000 {
					return fmt.Sprintf("block %d: a context text of %d characters", i, len([]rune(s)))
				}
			}
		case "divider", "actions", "input", "image":
		default:
			return fmt.Sprintf("block %d: unknown type %v", i, b["type"])
		}
	}
	return ""
}

// HomeOpened is an events_api envelope carrying app_home_opened: user
// opened the app's home tab, in their direct-message channel with the
// app, exactly as Slack sends it.
func (s *Server) HomeOpened(envelope, user, channel string) map[string]any {
	return map[string]any{
		"envelope_id":              envelope,
		"type":                     "events_api",
		"accepts_response_payload": false,
		"retry_attempt":            0,
		"retry_reason":             "",
		"payload": map[string]any{
			"token": "legacyverificationtoken", "team_id": s.opts.TeamID, "api_app_id": s.opts.AppID,
			"type": "event_callback", "event_id": "Ev" + envelope, "event_time": time.Now().Unix(),
			"event": map[string]any{
				"type": "app_home_opened", "user": user, "channel": channel, "tab": "home",
				"event_ts": fmt.Sprintf("%d.000100", time.Now().Unix()),
			},
		},
	}
}

// Opens is how many times apps.connections.open was called.
func (s *Server) Opens() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens
}

// NotIn makes chat.postMessage and file shares in channel fail with
// not_in_channel until the bot joins it.
func (s *Server) NotIn(channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notIn[channel] = true
}

// FailJoin makes conversations.join of channel answer code.
func (s *Server) FailJoin(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinFails[channel] = code
}

// FailEphemeral makes chat.postEphemeral in channel answer code.
func (s *Server) FailEphemeral(channel, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ephFails[channel] = code
}

// RateLimit makes the next n calls of method answer 429, Retry-After 1.
func (s *Server) RateLimit(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitOnce[method] = n
}

// Down makes the next n calls of method answer 503.
func (s *Server) Down(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downOnce[method] = n
}

// Delay makes every call of method answer d late (a slow Slack); other
// calls are not held up.
func (s *Server) Delay(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays[method] = d
}

// failing is an HTTP status a method answers a number of times.
type failing struct{ status, n int }

// FailStatus makes the next n calls of method answer the HTTP status
// alone, with no header (a 429 without Retry-After, a 500).
func (s *Server) FailStatus(method string, status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOnce[method] = failing{status: status, n: n}
}

// FailOpen makes apps.connections.open answer code ("" for ok).
func (s *Server) FailOpen(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openErr = code
}

// FailAuth makes auth.test answer code ("" for ok).
func (s *Server) FailAuth(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authErr = code
}

// SetGroups sets the user groups usergroups.list answers: each with an
// "id", a "handle" and "users" (shown only when include_users is true).
func (s *Server) SetGroups(groups []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups = groups
}

// FailGroups makes usergroups.list answer code ("" for ok).
func (s *Server) FailGroups(code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groupsErr = code
}

// FailResponses makes response URLs answer status (an expired URL); 0
// answers 200.
func (s *Server) FailResponses(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.respFails = status
}

func (s *Server) record(r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.received, "%s %s\n", r.Method, r.URL.String())
	for k, vs := range r.Header {
		if k != "Authorization" {
			fmt.Fprintf(&s.received, "%s: %s\n", k, strings.Join(vs, ","))
		}
	}
	s.received.Write(body)
	s.received.WriteByte('\n')
}

// Form is a request's fields: form-encoded, multipart, or a JSON body's
// top-level strings.
func Form(r *http.Request, body []byte) url.Values {
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	v := url.Values{}
	switch ct {
	case "application/x-www-form-urlencoded":
		v, _ = url.ParseQuery(string(body))
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			v.Add(p.FormName(), string(b))
		}
	case "application/json":
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		for k, x := range m {
			if s, ok := x.(string); ok {
				v.Set(k, s)
			}
		}
	}
	return v
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.record(r, body)
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	form := Form(r, body)
	call := Call{Method: method, Form: form, Auth: r.Header.Get("Authorization"), At: time.Now(), Status: http.StatusOK}

	s.mu.Lock()
	delay := s.delays[method]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
		}
	}
	s.mu.Lock()
	defer func() {
		s.calls = append(s.calls, call)
		s.mu.Unlock()
	}()
	if n := s.downOnce[method]; n > 0 {
		s.downOnce[method] = n - 1
		call.Status = http.StatusServiceUnavailable
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if f := s.failOnce[method]; f.n > 0 {
		s.failOnce[method] = failing{status: f.status, n: f.n - 1}
		call.Status = f.status
		w.WriteHeader(f.status)
		return
	}
	if n := s.limitOnce[method]; n > 0 {
		s.limitOnce[method] = n - 1
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
		if s.authErr != "" {
			fail(s.authErr)
			return
		}
		reply(w, map[string]any{"ok": true, "user": "odoobot", "user_id": s.opts.BotUserID, "team": s.opts.Team, "team_id": s.opts.TeamID})
	case "apps.connections.open":
		s.opens++
		if s.openErr != "" {
			fail(s.openErr)
			return
		}
		reply(w, map[string]any{"ok": true, "url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/link?ticket=" + strconv.Itoa(s.opens)})
	case "chat.postMessage":
		if s.notIn[channel] && !s.joined[channel] {
			fail("not_in_channel")
			return
		}
		if strings.HasPrefix(channel, "G") {
			fail("channel_not_found")
			return
		}
		s.ts++
		call.TS = fmt.Sprintf("1700000000.%06d", s.ts)
		reply(w, map[string]any{"ok": true, "channel": channel, "ts": call.TS})
	case "chat.update":
		reply(w, map[string]any{"ok": true, "channel": channel, "ts": form.Get("ts")})
	case "chat.postEphemeral":
		if code := s.ephFails[channel]; code != "" {
			fail(code)
			return
		}
		s.ts++
		reply(w, map[string]any{"ok": true, "message_ts": fmt.Sprintf("1700000000.%06d", s.ts)})
	case "usergroups.list":
		if s.groupsErr != "" {
			fail(s.groupsErr)
			return
		}
		out := []map[string]any{}
		for _, g := range s.groups {
			if form.Get("include_users") != "true" {
				g = map[string]any{"id": g["id"], "handle": g["handle"]}
			}
			out = append(out, g)
		}
		reply(w, map[string]any{"ok": true, "usergroups": out})
	case "views.open":
		// Slack: a trigger_id is valid 3 s after the interaction, once.
		var req struct {
			TriggerID string         `json:"trigger_id"`
			View      map[string]any `json:"view"`
		}
		_ = json.Unmarshal(body, &req)
		sent, known := s.triggers[req.TriggerID]
		switch {
		case !known:
			fail("invalid_trigger_id")
			return
		case sent.IsZero():
			fail("exchanged_trigger_id")
			return
		case time.Since(sent) > 3*time.Second:
			fail("expired_trigger_id")
			return
		case req.View == nil || req.View["type"] != "modal":
			fail("invalid_arguments")
			return
		}
		s.triggers[req.TriggerID] = time.Time{}
		id := fmt.Sprintf("V%08d", len(s.views)+1)
		v := View{ID: id, TriggerID: req.TriggerID, Spec: req.View, Hash: "1700000000.hash" + id}
		s.views = append(s.views, v)
		out := map[string]any{"id": v.ID, "team_id": s.opts.TeamID, "hash": v.Hash, "state": map[string]any{"values": map[string]any{}}, "app_id": s.opts.AppID}
		for k, x := range req.View {
			out[k] = x
		}
		reply(w, map[string]any{"ok": true, "view": out})
	case "views.update":
		// Slack: the view is named by view_id (or external_id, which
		// odoobot does not use); a hash that is not the view's current
		// one is refused, the view unchanged (hash_conflict).
		var req struct {
			ViewID     string         `json:"view_id"`
			ExternalID string         `json:"external_id"`
			Hash       string         `json:"hash"`
			View       map[string]any `json:"view"`
		}
		_ = json.Unmarshal(body, &req)
		i := slices.IndexFunc(s.views, func(v View) bool { return v.ID == req.ViewID })
		switch {
		case req.ViewID == "" && req.ExternalID == "":
			fail("invalid_arguments")
			return
		case i < 0:
			fail("not_found")
			return
		case req.Hash != "" && req.Hash != s.views[i].Hash:
			fail("hash_conflict")
			return
		case req.View == nil || req.View["type"] != "modal":
			fail("invalid_arguments")
			return
		}
		v := &s.views[i]
		v.Spec, v.Updates = req.View, v.Updates+1
		v.Hash = fmt.Sprintf("17000000%02d.hash%s", v.Updates, v.ID)
		out := map[string]any{"id": v.ID, "team_id": s.opts.TeamID, "hash": v.Hash, "state": map[string]any{"values": map[string]any{}}, "app_id": s.opts.AppID}
		for k, x := range req.View {
			out[k] = x
		}
		reply(w, map[string]any{"ok": true, "view": out})
	case "views.publish":
		var req struct {
			UserID string         `json:"user_id"`
			View   map[string]any `json:"view"`
		}
		_ = json.Unmarshal(body, &req)
		if req.UserID == "" || req.View == nil || req.View["type"] != "home" {
			fail("invalid_arguments")
			return
		}
		p := Published{User: req.UserID, View: View{ID: fmt.Sprintf("VH%07d", len(s.published)+1), Spec: req.View}}
		if problem := checkBlocks(p.Blocks()); problem != "" {
			call.Err = "invalid_blocks"
			reply(w, map[string]any{"ok": false, "error": "invalid_blocks", "response_metadata": map[string]any{"messages": []string{problem}}})
			return
		}
		s.published = append(s.published, p)
		out := map[string]any{"id": p.ID, "team_id": s.opts.TeamID, "app_id": s.opts.AppID}
		for k, x := range req.View {
			out[k] = x
		}
		reply(w, map[string]any{"ok": true, "view": out})
	case "conversations.open":
		// A direct message with the users named: "D" and the first one.
		users := strings.Split(form.Get("users"), ",")
		if users[0] == "" {
			fail("users_list_not_supplied")
			return
		}
		reply(w, map[string]any{"ok": true, "channel": map[string]any{"id": "D" + users[0]}})
	case "conversations.join":
		if code := s.joinFails[channel]; code != "" {
			fail(code)
			return
		}
		s.joined[channel] = true
		reply(w, map[string]any{"ok": true, "channel": map[string]any{"id": channel}})
	case "files.getUploadURLExternal":
		id := fmt.Sprintf("F%08d", len(s.fileIDs)+1)
		s.fileIDs = append(s.fileIDs, id)
		s.files[id] = ""
		reply(w, map[string]any{"ok": true, "upload_url": s.srv.URL + "/upload/" + id, "file_id": id})
	case "files.completeUploadExternal":
		if ch := form.Get("channel_id"); s.notIn[ch] && !s.joined[ch] {
			fail("not_in_channel")
			return
		}
		var files []map[string]any
		_ = json.Unmarshal([]byte(form.Get("files")), &files)
		reply(w, map[string]any{"ok": true, "files": files})
	default:
		call.Status = http.StatusNotFound
		http.NotFound(w, r)
	}
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.record(r, body)
	form := Form(r, body)
	content := form.Get("file")
	if len(form) == 0 {
		content = string(body) // a raw upload
	}
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	s.mu.Lock()
	s.files[id] = content
	s.mu.Unlock()
	fmt.Fprintf(w, "OK - %d", len(content))
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.record(r, body)
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	s.mu.Lock()
	s.responses = append(s.responses, m)
	status := s.respFails
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(http.StatusOK)
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// socket is the Socket Mode WebSocket: hello, pings every 2 s (the client
// reconnects when Slack's pings stop), then the envelopes the test sends;
// every frame read back is an ack.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	s.record(r, nil)
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	s.mu.Lock()
	s.conns++
	s.conn = c
	n := s.conns
	s.mu.Unlock()
	s.wmu.Lock()
	err = c.WriteJSON(map[string]any{
		"type": "hello", "num_connections": n,
		"debug_info":      map[string]any{"host": "applink-test", "build_number": 1, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": s.opts.AppID},
	})
	s.wmu.Unlock()
	if err != nil {
		return
	}
	s.connected <- struct{}{}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				s.wmu.Lock()
				_ = c.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(time.Second))
				s.wmu.Unlock()
			}
		}
	}()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		now := time.Now()
		s.record(r, msg)
		var a struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(msg, &a) != nil || a.EnvelopeID == "" {
			continue
		}
		s.mu.Lock()
		sent := s.sentAt[a.EnvelopeID]
		s.mu.Unlock()
		select {
		case s.acks <- Ack{ID: a.EnvelopeID, Latency: now.Sub(sent), Payload: a.Payload}:
		default: // nobody reads them
		}
	}
}

// Connected receives once per Socket Mode connection the bot makes.
func (s *Server) Connected() <-chan struct{} { return s.connected }

// WaitConnected waits up to timeout for the bot's next Socket Mode
// connection, and fails the test without it.
func (s *Server) WaitConnected(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-s.connected:
	case <-time.After(timeout):
		t.Fatalf("the bot did not connect to Socket Mode within %s", timeout)
	}
}

// Drop closes the current Socket Mode connection, as a network failure
// does.
func (s *Server) Drop() {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Send writes frame on the current Socket Mode connection, noting when it
// left (after encoding, so that the double's own JSON work is not
// counted in the ack's latency).
func (s *Server) Send(t testing.TB, frame map[string]any) {
	t.Helper()
	msg, err := json.Marshal(frame)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	c := s.conn
	if id, ok := frame["envelope_id"].(string); ok {
		if _, again := s.sentAt[id]; !again {
			s.sentAt[id] = time.Now()
		}
	}
	s.mu.Unlock()
	if c == nil {
		t.Fatal("no Socket Mode connection")
	}
	s.wmu.Lock()
	err = c.WriteMessage(websocket.TextMessage, msg)
	s.wmu.Unlock()
	if err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// SendRaw writes msg, a frame encoded already, on the current Socket
// Mode connection.
func (s *Server) SendRaw(t testing.TB, msg []byte) {
	t.Helper()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		t.Fatal("no Socket Mode connection")
	}
	s.wmu.Lock()
	err := c.WriteMessage(websocket.TextMessage, msg)
	s.wmu.Unlock()
	if err != nil {
		t.Fatalf("send frame: %v", err)
	}
}

// Acks receives the bot's acks, in the order they came (up to 1024 not
// yet read are kept).
func (s *Server) Acks() <-chan Ack { return s.acks }

// WaitAck waits up to timeout for the ack of envelope and returns its
// latency; acks of other envelopes read meanwhile are dropped.
func (s *Server) WaitAck(t testing.TB, envelope string, timeout time.Duration) time.Duration {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case a := <-s.acks:
			if a.ID == envelope {
				return a.Latency
			}
		case <-deadline:
			t.Fatalf("no ack for envelope %s within %s", envelope, timeout)
		}
	}
}

// WaitAckOf waits up to timeout for the ack of envelope and returns it;
// acks of other envelopes read meanwhile are dropped.
func (s *Server) WaitAckOf(t testing.TB, envelope string, timeout time.Duration) Ack {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case a := <-s.acks:
			if a.ID == envelope {
				return a
			}
		case <-deadline:
			t.Fatalf("no ack for envelope %s within %s", envelope, timeout)
		}
	}
}

// trigger records that the trigger_id of envelope is sent now: valid
// for views.open for 3 s.
func (s *Server) trigger(envelope string) string {
	id := "1337.42." + envelope
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, again := s.triggers[id]; !again {
		s.triggers[id] = time.Now()
	}
	return id
}

// Submit is the view_submission envelope of the user (name) submitting
// the open view v with values: block_id → what was typed in its
// plain-text input, or the value of the option picked in its select, as
// Slack sends it (the option's text is the one v offered, or the value).
func (s *Server) Submit(envelope, user, name string, v View, values map[string]string) map[string]any {
	payload := map[string]any{
		"type": "view_submission", "api_app_id": s.opts.AppID, "token": "legacyverificationtoken",
		"team":       map[string]any{"id": s.opts.TeamID, "domain": s.opts.Team},
		"user":       map[string]any{"id": user, "username": name, "name": name, "team_id": s.opts.TeamID},
		"trigger_id": s.trigger(envelope), "view": s.viewPayload(v, values),
		"response_urls": []any{}, "is_enterprise_install": false, "enterprise": nil,
	}
	return map[string]any{"envelope_id": envelope, "type": "interactive", "accepts_response_payload": true, "payload": payload}
}

// Suggestion is the block_suggestion envelope of the user (name) typing
// typed in the external select of the input block blockID of the open
// view v, with values (as in Submit) already in the view's other inputs.
func (s *Server) Suggestion(envelope, user, name string, v View, blockID, typed string, values map[string]string) map[string]any {
	actionID, _ := v.Element(blockID)["action_id"].(string)
	payload := map[string]any{
		"type": "block_suggestion", "api_app_id": s.opts.AppID, "token": "legacyverificationtoken",
		"team":      map[string]any{"id": s.opts.TeamID, "domain": s.opts.Team},
		"user":      map[string]any{"id": user, "username": name, "name": name, "team_id": s.opts.TeamID},
		"container": map[string]any{"type": "view", "view_id": v.ID},
		"action_id": actionID, "block_id": blockID, "value": typed, "action_ts": "1700000001.000001",
		"view": s.viewPayload(v, values), "is_enterprise_install": false, "enterprise": nil,
	}
	return map[string]any{"envelope_id": envelope, "type": "interactive", "accepts_response_payload": true, "payload": payload}
}

// Typed is the block_actions envelope Slack sends as the user (name)
// types in the plain-text input of the input block blockID of the open
// view v, when that block has dispatch_action and its input
// dispatch_action_config on_character_entered: the input's value so far
// (typed), with values (as in Submit) in the view's other inputs, and
// the view with its current hash.
func (s *Server) Typed(envelope, user, name string, v View, blockID, typed string, values map[string]string) map[string]any {
	actionID, _ := v.Element(blockID)["action_id"].(string)
	all := map[string]string{blockID: typed}
	for k, x := range values {
		all[k] = x
	}
	payload := map[string]any{
		"type": "block_actions", "api_app_id": s.opts.AppID, "token": "legacyverificationtoken",
		"team":       map[string]any{"id": s.opts.TeamID, "domain": s.opts.Team},
		"user":       map[string]any{"id": user, "username": name, "name": name, "team_id": s.opts.TeamID},
		"container":  map[string]any{"type": "view", "view_id": v.ID},
		"trigger_id": s.trigger(envelope),
		"actions":    []map[string]any{{"type": "plain_text_input", "action_id": actionID, "block_id": blockID, "value": typed, "action_ts": "1700000001.000001"}},
		"view":       s.viewPayload(v, all), "is_enterprise_install": false, "enterprise": nil,
	}
	return map[string]any{"envelope_id": envelope, "type": "interactive", "accepts_response_payload": false, "payload": payload}
}

// viewPayload is v as Slack sends it back in an interaction: with its
// id, hash and the state of its inputs.
func (s *Server) viewPayload(v View, values map[string]string) map[string]any {
	state := map[string]any{}
	for block, value := range values {
		e := v.Element(block)
		actionID, _ := e["action_id"].(string)
		typ, _ := e["type"].(string)
		var a map[string]any
		switch typ {
		case "static_select", "external_select":
			text := value
			for _, o := range v.optionsOf(block) {
				if o["value"] == value {
					if t, ok := o["text"].(map[string]any); ok {
						text = fmt.Sprint(t["text"])
					}
				}
			}
			a = map[string]any{"type": typ, "selected_option": map[string]any{"text": map[string]any{"type": "plain_text", "text": text, "emoji": true}, "value": value}}
		default:
			a = map[string]any{"type": typ, "value": value}
		}
		state[block] = map[string]any{actionID: a}
	}
	out := map[string]any{
		"id": v.ID, "team_id": s.opts.TeamID, "app_id": s.opts.AppID, "bot_id": "B0123",
		"hash": v.Hash, "root_view_id": v.ID, "previous_view_id": nil,
		"state": map[string]any{"values": state},
	}
	for k, x := range v.Spec {
		out[k] = x
	}
	return out
}

// optionsOf are the options of the select of the input block blockID.
func (v View) optionsOf(blockID string) []map[string]any {
	var out []map[string]any
	opts, _ := v.Element(blockID)["options"].([]any)
	for _, o := range opts {
		if m, ok := o.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// Slash is a slash_commands envelope for /odoo text, typed by user (name)
// in channel, exactly as Slack sends it; retry > 0 is Slack's retry of an
// envelope it saw no ack of.
func (s *Server) Slash(envelope string, retry int, user, name, channel, text string) map[string]any {
	return map[string]any{
		"envelope_id":              envelope,
		"type":                     "slash_commands",
		"accepts_response_payload": true,
		"retry_attempt":            retry,
		"retry_reason":             map[bool]string{true: "timeout", false: ""}[retry > 0],
		"payload": map[string]any{
			"token": "legacyverificationtoken", "team_id": s.opts.TeamID, "team_domain": s.opts.Team,
			"channel_id": channel, "channel_name": "ops", "user_id": user, "user_name": name,
			"command": "/odoo", "text": text, "api_app_id": s.opts.AppID, "is_enterprise_install": "false",
			"response_url": s.ResponseURL(envelope),
			"trigger_id":   s.trigger(envelope),
		},
	}
}

// Button is a click on a message's button.
type Button struct {
	User, UserName string
	Channel        string
	ChannelName    string
	MessageTS      string // the message holding the button
	Ephemeral      bool   // the message was seen by its recipient alone
	ActionID       string
	BlockID        string
	Value          string
}

// Click is a block_actions envelope for the click b, exactly as Slack
// sends it.
func (s *Server) Click(envelope string, b Button) map[string]any {
	payload := map[string]any{
		"type": "block_actions", "api_app_id": s.opts.AppID, "token": "legacyverificationtoken",
		"user":         map[string]any{"id": b.User, "username": b.UserName, "name": b.UserName, "team_id": s.opts.TeamID},
		"channel":      map[string]any{"id": b.Channel, "name": b.ChannelName},
		"container":    map[string]any{"type": "message", "channel_id": b.Channel, "is_ephemeral": b.Ephemeral, "message_ts": b.MessageTS},
		"response_url": s.ResponseURL(envelope), "trigger_id": s.trigger(envelope),
		"actions": []map[string]any{{"action_id": b.ActionID, "block_id": b.BlockID, "type": "button", "value": b.Value, "action_ts": "1700000001.000001"}},
	}
	if !b.Ephemeral {
		payload["message"] = map[string]any{"type": "message", "ts": b.MessageTS}
	}
	return map[string]any{"envelope_id": envelope, "type": "interactive", "accepts_response_payload": false, "payload": payload}
}
