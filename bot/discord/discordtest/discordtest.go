// Package discordtest is a test double of Discord: an HTTP server that
// speaks Discord's real protocol, so that a bot built on discordgo (or
// the odoobot binary itself, pointed at it with DISCORD_API_URL) runs
// unchanged against it.
//
// It serves both halves of Discord:
//
//   - the REST API under /api/v10/: interaction callbacks (the deferred
//     responses), the original response's edits and deletion, followups
//     (ephemeral ones carry flag 64), messages posted and edited in
//     channels and threads, threads started on a message, direct-message
//     channels and the bulk registration of application commands. Every
//     request is recorded as a Call, and everything received but the
//     Authorization header is kept, so that a test can look for a leaked
//     token;
//   - the gateway: GET /api/v10/gateway names a websocket at /gateway
//     (discordgo reads the gateway's URL there, from DISCORD_API_URL's
//     base), which sends HELLO (op 10), answers IDENTIFY (op 2) with
//     READY, heartbeats (op 1) with an ACK (op 11), RESUME (op 6) with
//     RESUMED, and then dispatches (op 0) the events a test delivers,
//     such as INTERACTION_CREATE built by Slash and Click. A test can
//     also make it misbehave as Discord may: stay silent, answer
//     IDENTIFY with op 9 or with a close code (4004…), invalidate a
//     session (op 9, resumable or not), close every connection with a
//     code or drop it; it records the close codes the bot sends.
//     Autocomplete builds the interaction (type 4) Discord sends while
//     a user types in an autocomplete option.
//
// Where Discord's documentation says a body is refused, the double
// refuses it too, with 400 and code 50035: an autocomplete result
// (callback type 8) that is not a list of at most 25 choices of 1–100
// character names and values of at most 100, and a registered option
// that has both autocomplete and choices, or autocomplete on a type
// other than string, integer or number.
//
// Snowflakes it makes up count up from 900000000000000000. It answers
// one bot; it checks no token (a test reads Call.Auth instead).
package discordtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The REST paths a test matches calls against, without the /api/v10
// prefix. The submatches are named in each comment.
var (
	// Callback is POST /interactions/{id}/{token}/callback.
	Callback = regexp.MustCompile(`^/interactions/[0-9]+/([^/]+)/callback$`)
	// Original is the original response, /webhooks/{app}/{token}/messages/@original: [1] the token.
	Original = regexp.MustCompile(`^/webhooks/[0-9]+/([^/]+)/messages/@original$`)
	// Followup is POST /webhooks/{app}/{token}: [1] the token.
	Followup = regexp.MustCompile(`^/webhooks/[0-9]+/([^/]+)$`)
	// ThreadStart is POST /channels/{channel}/messages/{message}/threads: [1] the channel, [2] the message.
	ThreadStart = regexp.MustCompile(`^/channels/([0-9]+)/messages/([0-9]+)/threads$`)
	// ChannelPost is POST /channels/{channel}/messages: [1] the channel (or thread).
	ChannelPost = regexp.MustCompile(`^/channels/([0-9]+)/messages$`)
	// ChannelEdit is PATCH /channels/{channel}/messages/{message}: [1] the channel, [2] the message.
	ChannelEdit = regexp.MustCompile(`^/channels/([0-9]+)/messages/([0-9]+)$`)
	// Commands is PUT /applications/{app}[/guilds/{guild}]/commands.
	Commands = regexp.MustCompile(`^/applications/[0-9]+(/guilds/[0-9]+)?/commands$`)
)

// MessageFlagEphemeral is the flag of a message only its recipient sees.
const MessageFlagEphemeral = 64

// CallbackAutocompleteResult is the type of the callback answering an
// autocomplete interaction (APPLICATION_COMMAND_AUTOCOMPLETE_RESULT).
const CallbackAutocompleteResult = 8

// Call is one REST request as the double saw it.
type Call struct {
	Method string
	Path   string         // without the /api/v10 prefix
	Query  string         // the raw query
	Auth   string         // the Authorization header
	JSON   map[string]any // the JSON body, or a multipart request's payload_json
	Body   []byte         // the raw body
	Files  map[string]string
	// Message is the ID of the message the call made or changed, when
	// it answered one ("" otherwise).
	Message string
	// Channel is the channel (or thread) of that message.
	Channel string
	// At is when the request arrived.
	At time.Time
	// Status is the HTTP status the double answered (0 for a dropped
	// connection).
	Status int
}

// Str is the JSON body's top-level string key ("" when absent).
func (c Call) Str(key string) string {
	s, _ := c.JSON[key].(string)
	return s
}

// Flags is the JSON body's flags, or, for an interaction callback, its
// data's flags.
func (c Call) Flags() int {
	f, ok := c.JSON["flags"].(float64)
	if !ok {
		data, _ := c.JSON["data"].(map[string]any)
		f, _ = data["flags"].(float64)
	}
	return int(f)
}

// Ephemeral reports whether the call's message is seen by its recipient
// alone.
func (c Call) Ephemeral() bool { return c.Flags()&MessageFlagEphemeral != 0 }

// CallbackType is an interaction callback's type: 5 a deferred message,
// 6 a deferred update, 8 an autocomplete's result (0 for another call).
func (c Call) CallbackType() int {
	t, _ := c.JSON["type"].(float64)
	return int(t)
}

// Choice is one choice of an autocomplete's result.
type Choice struct {
	Name  string
	Value any // a string for a string option
}

// Choices are the choices of an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
// callback (type 8), in order; nil for another call.
func (c Call) Choices() []Choice {
	if c.CallbackType() != CallbackAutocompleteResult {
		return nil
	}
	data, _ := c.JSON["data"].(map[string]any)
	list, _ := data["choices"].([]any)
	out := []Choice{}
	for _, it := range list {
		m, _ := it.(map[string]any)
		name, _ := m["name"].(string)
		out = append(out, Choice{Name: name, Value: m["value"]})
	}
	return out
}

// CustomIDs are the custom_ids of the buttons the call's message holds.
func (c Call) CustomIDs() []string {
	var ids []string
	rows, _ := c.JSON["components"].([]any)
	for _, row := range rows {
		r, _ := row.(map[string]any)
		items, _ := r["components"].([]any)
		for _, it := range items {
			b, _ := it.(map[string]any)
			if id, ok := b["custom_id"].(string); ok {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// String is the call in one line, for failure messages.
func (c Call) String() string {
	return fmt.Sprintf("%s %s %v files=%d", c.Method, c.Path, c.JSON, len(c.Files))
}

// Describe is calls one a line, for failure messages.
func Describe(calls []Call) string {
	var b strings.Builder
	for _, c := range calls {
		b.WriteString("  " + c.String() + "\n")
	}
	return b.String()
}

// Options names the double's guild. Every ID is a snowflake; empty ones
// take the defaults below.
type Options struct {
	AppID     string // the application, also the bot user's ID in READY
	BotName   string // the bot user's name in READY, default "odoobot"
	Channel   string // the channel interactions come from, where original responses and followups are
	DMChannel string // the direct-message channel POST /users/@me/channels opens
}

// Server is the Discord test double. Build it with New; its methods are
// safe for concurrent use.
type Server struct {
	opts    Options
	srv     *httptest.Server
	Gateway *Gateway // the gateway GET /gateway names

	mu        sync.Mutex
	calls     []Call
	received  bytes.Buffer      // every URL, header and body, Authorization excepted
	originals map[string]string // interaction token → the original response's message ID
	nextID    int64
	status    map[string]int // "METHOD /path regexp" → status to answer instead
	times     map[string]int // "METHOD /path regexp" → how many more times status applies; absent: always
	changed   chan struct{}
}

// DropConnection, given to FailTimes as the code, closes the connection
// without an answer.
const DropConnection = -1

// New starts a Server on a loopback port; it is closed when the test
// ends.
func New(t testing.TB, o Options) *Server {
	t.Helper()
	if o.AppID == "" {
		o.AppID = "123456789012345678"
	}
	if o.BotName == "" {
		o.BotName = "odoobot"
	}
	if o.Channel == "" {
		o.Channel = "323456789012345678"
	}
	if o.DMChannel == "" {
		o.DMChannel = "523456789012345678"
	}
	s := &Server{
		opts: o, originals: map[string]string{}, nextID: 900000000000000000,
		status: map[string]int{}, times: map[string]int{}, changed: make(chan struct{}, 1),
		Gateway: newGateway(o.AppID, o.BotName),
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Close closes the gateway's connections and stops the server.
func (s *Server) Close() {
	s.Gateway.closeAll()
	s.srv.Close()
}

// APIURL is the REST base to give the bot (DISCORD_API_URL).
func (s *Server) APIURL() string { return s.srv.URL + "/api/v10/" }

// Options are the IDs the server answers with.
func (s *Server) Options() Options { return s.opts }

func (s *Server) id() string {
	s.nextID++
	return strconv.FormatInt(s.nextID, 10)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.TrimSuffix(r.URL.Path, "/") == "/gateway" {
		s.Gateway.serve(w, r)
		return
	}
	sw := &statusWriter{ResponseWriter: w}
	w = sw
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/v10")
	call := Call{Method: r.Method, Path: path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"), Body: body, Files: map[string]string{}, At: time.Now()}
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

	s.mu.Lock()
	defer func() {
		call.Status = sw.status
		s.calls = append(s.calls, call)
		s.mu.Unlock()
		select {
		case s.changed <- struct{}{}:
		default:
		}
	}()
	fmt.Fprintf(&s.received, "%s %s\n", r.Method, r.URL.String())
	for k, vs := range r.Header {
		if k != "Authorization" {
			fmt.Fprintf(&s.received, "%s: %s\n", k, strings.Join(vs, ","))
		}
	}
	s.received.Write(body)
	s.received.WriteByte('\n')

	for pattern, code := range s.status {
		method, re, _ := strings.Cut(pattern, " ")
		if method == r.Method && regexp.MustCompile(re).MatchString(path) {
			if n, ok := s.times[pattern]; ok {
				if n == 0 {
					continue
				}
				s.times[pattern] = n - 1
			}
			if code == DropConnection {
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
		call.Message, call.Channel = id, channel
		writeJSON(w, map[string]any{"id": id, "channel_id": channel, "content": call.JSON["content"], "type": 0,
			"flags": call.JSON["flags"], "components": call.JSON["components"]})
	}
	switch {
	case r.Method == http.MethodPost && Callback.MatchString(path):
		if problem := checkCallback(call.JSON); problem != "" {
			invalidForm(w, problem)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPatch && Original.MatchString(path):
		token := Original.FindStringSubmatch(path)[1]
		if s.originals[token] == "" {
			s.originals[token] = s.id()
		}
		message(s.opts.Channel, s.originals[token])
	case r.Method == http.MethodDelete && Original.MatchString(path):
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && Followup.MatchString(path):
		message(s.opts.Channel, s.id())
	case r.Method == http.MethodPost && ThreadStart.MatchString(path):
		id := s.id()
		call.Channel = id
		writeJSON(w, map[string]any{"id": id, "type": 11, "parent_id": ThreadStart.FindStringSubmatch(path)[1], "name": call.JSON["name"]})
	case r.Method == http.MethodPost && ChannelPost.MatchString(path):
		message(ChannelPost.FindStringSubmatch(path)[1], s.id())
	case r.Method == http.MethodPatch && ChannelEdit.MatchString(path):
		m := ChannelEdit.FindStringSubmatch(path)
		message(m[1], m[2])
	case r.Method == http.MethodGet && path == "/gateway":
		writeJSON(w, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway"})
	case r.Method == http.MethodGet && path == "/gateway/bot":
		writeJSON(w, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/gateway", "shards": 1,
			"session_start_limit": map[string]any{"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}})
	case r.Method == http.MethodPost && path == "/users/@me/channels":
		writeJSON(w, map[string]any{"id": s.opts.DMChannel, "type": 1, "recipients": []map[string]any{{"id": call.JSON["recipient_id"]}}})
	case r.Method == http.MethodPut && Commands.MatchString(path):
		var cmds []map[string]any
		_ = json.Unmarshal(body, &cmds)
		if problem := checkCommands(cmds); problem != "" {
			invalidForm(w, problem)
			return
		}
		for _, c := range cmds {
			c["id"], c["application_id"] = s.id(), s.opts.AppID
		}
		writeJSON(w, cmds)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message": "404: Not Found", "code": 0}`)
	}
}

// invalidForm answers as Discord does a body it refuses: 400 with error
// code 50035 ("Invalid Form Body"), problem saying what was wrong.
func invalidForm(w http.ResponseWriter, problem string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": 50035, "message": "Invalid Form Body", "errors": map[string]any{"_errors": []any{map[string]any{"code": "BASE_TYPE_INVALID", "message": problem}}}})
}

// checkCallback is what Discord would refuse in an interaction callback,
// "" when nothing: an autocomplete's result (type 8) must hold data.choices,
// a list of at most 25 choices, each with a name of 1–100 characters
// and a value (a string of at most 100 characters, or a number).
func checkCallback(body map[string]any) string {
	t, _ := body["type"].(float64)
	if int(t) != CallbackAutocompleteResult {
		return ""
	}
	data, _ := body["data"].(map[string]any)
	list, ok := data["choices"].([]any)
	if !ok {
		return "data.choices: an autocomplete result needs a list of choices"
	}
	if len(list) > 25 {
		return fmt.Sprintf("data.choices: %d choices, at most 25", len(list))
	}
	for k, it := range list {
		m, _ := it.(map[string]any)
		name, _ := m["name"].(string)
		if n := utf8.RuneCountInString(name); n < 1 || n > 100 {
			return fmt.Sprintf("data.choices.%d.name: %d characters, must be 1–100", k, n)
		}
		switch v := m["value"].(type) {
		case string:
			if utf8.RuneCountInString(v) > 100 {
				return fmt.Sprintf("data.choices.%d.value: longer than 100 characters", k)
			}
		case float64:
		default:
			return fmt.Sprintf("data.choices.%d.value: a string or a number is needed", k)
		}
	}
	return ""
}

// checkCommands is what Discord would refuse in a registration of
// application commands, "" when nothing: at most 25 options (subcommands
// and groups count) in a command, a group or a subcommand; names of 1–32
// lowercase letters, digits, '-' and '_', unique among their siblings;
// descriptions of 1–100 characters; an option with autocomplete must be
// a string, integer or number (types 3, 4, 10) and have no choices; at
// most 25 choices; options nest in subcommands, subcommands in groups,
// and required options come before optional ones.
func checkCommands(cmds []map[string]any) string {
	var check func(path string, opts []any) string
	check = func(path string, opts []any) string {
		if len(opts) > 25 {
			return fmt.Sprintf("%s: %d options, more than 25", path, len(opts))
		}
		seen := map[string]bool{}
		optional := false
		for _, it := range opts {
			o, _ := it.(map[string]any)
			name, _ := o["name"].(string)
			p := path + "." + name
			if !optionName.MatchString(name) || seen[name] {
				return p + ": the name must be 1–32 lowercase letters, digits, - or _, unique"
			}
			seen[name] = true
			if d, _ := o["description"].(string); utf8.RuneCountInString(d) < 1 || utf8.RuneCountInString(d) > 100 {
				return p + ": the description must be 1–100 characters"
			}
			if req, _ := o["required"].(bool); req && optional {
				return p + ": a required option after an optional one"
			} else if !req {
				optional = true
			}
			t, _ := o["type"].(float64)
			choices, _ := o["choices"].([]any)
			if auto, _ := o["autocomplete"].(bool); auto {
				if len(choices) > 0 {
					return p + ": autocomplete cannot be set with choices"
				}
				if t != 3 && t != 4 && t != 10 {
					return fmt.Sprintf("%s: autocomplete on an option of type %v (only string, integer, number)", p, t)
				}
			}
			if len(choices) > 25 {
				return p + ": more than 25 choices"
			}
			sub, _ := o["options"].([]any)
			if problem := check(p, sub); problem != "" {
				return problem
			}
		}
		return ""
	}
	for _, c := range cmds {
		name, _ := c["name"].(string)
		opts, _ := c["options"].([]any)
		if problem := check(name, opts); problem != "" {
			return problem
		}
	}
	return ""
}

// optionName is what Discord accepts as a chat command's or option's name.
var optionName = regexp.MustCompile(`^[-_\p{Ll}\p{N}]{1,32}$`)

// statusWriter records the status a handler answers.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Hijack lets FailTimes drop the connection.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("discordtest: the connection cannot be hijacked")
	}
	return hj.Hijack()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Fail makes every request matching "METHOD path-regexp" (the path
// without /api/v10) answer code.
func (s *Server) Fail(pattern string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[pattern] = code
}

// FailTimes makes the next n requests matching "METHOD path-regexp"
// answer code (or drop the connection, for DropConnection).
func (s *Server) FailTimes(pattern string, code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[pattern] = code
	s.times[pattern] = n
}

// Calls are the REST calls so far, in the order they were answered.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Everything is all the server received but the Authorization headers:
// URLs, other headers and bodies.
func (s *Server) Everything() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received.String()
}

// OriginalMessage is the ID of the message the original response of the
// interaction with token became ("" before its first edit).
func (s *Server) OriginalMessage(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.originals[token]
}

// WaitFor waits up to timeout until some call satisfies ok, and returns
// the calls so far, or fails the test saying what it waited for.
func (s *Server) WaitFor(t testing.TB, what string, timeout time.Duration, ok func(Call) bool) []Call {
	t.Helper()
	calls, found := s.Await(timeout, ok)
	if !found {
		t.Fatalf("no %s within %s; calls:\n%s", what, timeout, Describe(calls))
	}
	return calls
}

// Await waits up to timeout until some call satisfies ok; it returns the
// calls so far and whether one did.
func (s *Server) Await(timeout time.Duration, ok func(Call) bool) ([]Call, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		calls := s.Calls()
		for _, c := range calls {
			if ok(c) {
				return calls, true
			}
		}
		select {
		case <-s.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			return s.Calls(), false
		}
	}
}
