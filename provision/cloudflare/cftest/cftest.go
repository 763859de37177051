// Package cftest is a test double of Cloudflare's v4 API: an in-memory
// http.Handler speaking the v4 JSON envelope (success, errors, messages,
// result, result_info) for the calls odoobot makes. It is not Cloudflare:
// it keeps one zone, its DNS records and a throw-away Origin CA in memory.
//
// Served paths (with or without a /client/v4 prefix):
//
//	GET    /user/tokens/verify
//	GET    /zones?name=            GET /zones/{id}
//	GET    /zones/{id}/dns_records (filters name, name.exact, type, content, content.exact,
//	                                comment.exact, comment.startswith, comment.contains; page, per_page)
//	POST   /zones/{id}/dns_records
//	GET, PATCH, PUT, DELETE /zones/{id}/dns_records/{rid}
//	POST   /certificates           GET, DELETE /certificates/{id}
//	GET    /ips                    (no token needed, as on Cloudflare; SetIPRanges)
//
// Every other request must carry "Authorization: Bearer <token>"; otherwise the
// answer is 403 with Cloudflare's codes (10000 without a header, 9109 for a
// wrong token). Every request is recorded (Requests), failures can be
// injected (FailNext, FailNextMatching), an answer can come too late
// (HoldNext, HoldNextList for a record listing), requests can hang until
// the client gives up (Hang), the requests in any window can be counted
// (MaxInWindow), record comments are held to the Free plan's 100
// characters (SetCommentLimit), the token can be made inactive
// (SetTokenStatus), and record changes can be followed (OnRecord), for
// example to mirror ACME challenge TXT records into a test DNS server. Tests use NewServer; a program can serve New's
// handler itself, or call Start.
package cftest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Record is a DNS record as the double stores and answers it.
type Record struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Name       string    `json:"name"`
	Content    string    `json:"content"`
	Proxied    bool      `json:"proxied"`
	Proxiable  bool      `json:"proxiable"`
	TTL        int       `json:"ttl"`
	Comment    string    `json:"comment,omitempty"`
	CreatedOn  time.Time `json:"created_on"`
	ModifiedOn time.Time `json:"modified_on"`
}

// Request is one request as the double received it, and the status it
// answered. Path has the /client/v4 prefix removed.
type Request struct {
	At            time.Time // when it arrived
	Method        string
	Path          string
	Query         url.Values
	Authorization string
	Body          []byte
	Status        int
}

// Certificate is an Origin CA certificate the double issued.
type Certificate struct {
	ID                string   `json:"id"`
	Certificate       string   `json:"certificate"`
	Hostnames         []string `json:"hostnames"`
	ExpiresOn         string   `json:"expires_on"`
	RequestType       string   `json:"request_type"`
	RequestedValidity int      `json:"requested_validity"`
	Csr               string   `json:"csr"`
	RevokedAt         string   `json:"revoked_at,omitempty"`
}

type hold struct {
	method string
	list   bool // only a listing of DNS records
	d      time.Duration
}

type failure struct {
	match      func(Request) bool // nil: method decides
	method     string             // "" matches any request
	status     int
	retryAfter string
	err        apiError // the zero value means a default for status
}

// Server is the double. Its zero value is not usable: build it with New or
// NewServer. It is safe for concurrent use.
type Server struct {
	// OnRecord, when set, is called once for each record a request
	// created or changed (deleted false, the record as stored) or deleted
	// (deleted true, the record as it was), after the change and before
	// the request's answer is sent; records loaded by AddRecord are not
	// reported. Calls come from the serving goroutines, one request's
	// after another's, never concurrently; it must not call the Server.
	// Set it before the Server serves.
	OnRecord func(r Record, deleted bool)

	zone, zoneID, token string

	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caPEM  []byte
	srv    *httptest.Server
	mu     sync.Mutex
	recs   []*Record
	certs  map[string]*Certificate
	reqs   []Request
	fails  []failure
	holds  []hold
	hang   func(Request) bool // requests that never get an answer
	hung   int
	closed chan struct{} // closed by Close: hung requests end
	limit  int           // longest record comment accepted
	status string        // the token's status, "active" unless set
	ips    ipRanges      // what GET /ips answers
	serial int64
	events []recordEvent // changes of the request being served, for OnRecord
	hookMu sync.Mutex    // serialises OnRecord calls
}

type recordEvent struct {
	r       Record
	deleted bool
}

// New returns a double for zone, accepting token. It generates its Origin
// CA key and certificate. It listens nowhere: serve it, or call Start.
func New(zone, token string) *Server {
	zone = strings.ToLower(strings.TrimSuffix(zone, "."))
	sum := sha256.Sum256([]byte("zone:" + zone))
	s := &Server{
		zone:   zone,
		zoneID: hex.EncodeToString(sum[:16]),
		token:  token,
		status: "active",
		certs:  map[string]*Certificate{},
		closed: make(chan struct{}),
		limit:  FreeCommentLimit,
	}
	s.newCA()
	return s
}

// NewServer starts New(zone, token) on a loopback httptest server, closed
// when t ends.
func NewServer(t testing.TB, zone, token string) *Server {
	t.Helper()
	s := New(zone, token)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// Start serves s on a loopback httptest server and returns URL(). Close
// stops it.
func (s *Server) Start() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		s.srv = httptest.NewServer(s)
	}
	return s.srv.URL + "/client/v4/"
}

// Close stops the server started by Start, if any, and ends the requests
// Hang holds.
func (s *Server) Close() {
	s.mu.Lock()
	srv := s.srv
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// URL is the API base URL to give the client (CF_API_BASE_URL), ending in
// /client/v4/; empty until Start.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return ""
	}
	return s.srv.URL + "/client/v4/"
}

// ZoneName is the zone the double serves.
func (s *Server) ZoneName() string { return s.zone }

// ZoneID is the zone's identifier, derived from its name.
func (s *Server) ZoneID() string { return s.zoneID }

// CACertPEM is the PEM certificate of the double's Origin CA, to verify
// the certificates it issues.
func (s *Server) CACertPEM() []byte { return slices.Clone(s.caPEM) }

// CAPool is a pool holding the double's Origin CA.
func (s *Server) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca)
	return p
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		r.Body = slices.Clone(r.Body)
		out[i] = r
	}
	return out
}

// RequestCount is len(Requests()).
func (s *Server) RequestCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// Records returns a copy of the zone's records, in creation order.
func (s *Server) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, len(s.recs))
	for i, r := range s.recs {
		out[i] = *r
	}
	return out
}

// Certificates returns a copy of the certificates issued, revoked ones
// included.
func (s *Server) Certificates() []Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Certificate, 0, len(s.certs))
	for _, c := range s.certs {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Certificate) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AddRecord preloads a record, as if made by someone else (set Comment to
// the client's marker to make it look like the client's own). ID, TTL
// (1) and dates are filled when empty. It returns the stored record.
func (s *Server) AddRecord(r Record) Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == "" {
		r.ID = s.newID()
	}
	if r.TTL == 0 {
		r.TTL = 1
	}
	if r.CreatedOn.IsZero() {
		r.CreatedOn = time.Now().UTC()
		r.ModifiedOn = r.CreatedOn
	}
	r.Proxiable = r.Type == "A" || r.Type == "AAAA" || r.Type == "CNAME"
	s.recs = append(s.recs, &r)
	return r
}

// FailNext makes the next n requests (authenticated or not) answer status
// with a Cloudflare error envelope, and a Retry-After header when
// retryAfter is not empty ("1", "0.05", "0", or an HTTP date).
func (s *Server) FailNext(status, n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status: status, retryAfter: retryAfter})
	}
}

// FailNextWhere makes the next n requests that match selects (its
// Method, Path and Query set) answer status, as FailNext does; other
// requests are served normally meanwhile.
func (s *Server) FailNextWhere(match func(Request) bool, status, n int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{match: match, status: status, retryAfter: retryAfter})
	}
}

// FailNextMatching makes the next request with method (GET, POST, PATCH,
// PUT, DELETE) answer status with one error of Cloudflare's code and
// message, such as 400, 81057, "Record already exists". The envelope
// says success false whatever status, 200 included, as Cloudflare has
// answered. Requests with other methods are served normally meanwhile.
func (s *Server) FailNextMatching(method string, status, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failure{method: method, status: status, err: apiError{code, message}})
}

// HoldNext makes the next request with method wait d before it is served:
// a client whose timeout is shorter gives up, and the request is applied
// anyway, late, as Cloudflare may do with a request whose answer was lost.
// Other requests are served meanwhile.
func (s *Server) HoldNext(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds = append(s.holds, hold{method: method, d: d})
}

// Hang makes every request that match selects (its Method, Path and
// Query set) hang: no answer is ever sent, until the client gives up or
// the Server is closed, as when Cloudflare or the path to it stalls. A
// hung request is counted by Hung, not recorded by Requests. nil stops
// hanging new requests.
func (s *Server) Hang(match func(Request) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hang = match
}

// HangAll makes every request hang (see Hang).
func (s *Server) HangAll() { s.Hang(func(Request) bool { return true }) }

// Hung is the number of requests Hang held.
func (s *Server) Hung() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hung
}

// FreeCommentLimit is the longest DNS record comment Cloudflare accepts on
// its Free plan, and the double's default.
const FreeCommentLimit = 100

// SetCommentLimit sets the longest record comment a create or an update
// may carry (FreeCommentLimit unless set); a longer one is refused with
// HTTP 400, code 1004, as a validation error.
func (s *Server) SetCommentLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = n
}

// MaxInWindow is the largest number of recorded requests that match
// selects (all when nil) arriving within any span of window: what a rate
// limit of that window counts.
func (s *Server) MaxInWindow(window time.Duration, match func(Request) bool) int {
	s.mu.Lock()
	var at []time.Time
	for _, r := range s.reqs {
		if match == nil || match(r) {
			at = append(at, r.At)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	best, lo := 0, 0
	for hi := range at {
		for at[hi].Sub(at[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// HoldNextList makes the next listing of DNS records (GET
// /zones/{id}/dns_records) wait d before it is served, and answer what
// the zone holds then: a slow listing. Other requests are served
// meanwhile.
func (s *Server) HoldNextList(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds = append(s.holds, hold{method: http.MethodGet, list: true, d: d})
}

// isListing reports whether r lists a zone's DNS records.
func isListing(r *http.Request) bool {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/client/v4"), "/"), "/")
	return r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "zones" && parts[2] == "dns_records"
}

// SetTokenStatus sets what GET /user/tokens/verify says of the token:
// "active" (the default), "disabled" or "expired". Other calls are served
// as before.
func (s *Server) SetTokenStatus(status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// apiError is one entry of the errors array.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

type envelope struct {
	Success    bool        `json:"success"`
	Errors     []apiError  `json:"errors"`
	Messages   []apiError  `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

// ServeHTTP answers one API request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.hang != nil && s.hang(Request{At: time.Now(), Method: r.Method, Path: strings.TrimPrefix(r.URL.Path, "/client/v4"), Query: r.URL.Query()}) {
		s.hung++
		closed := s.closed
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-closed:
		}
		return
	}
	var wait time.Duration
	if i := slices.IndexFunc(s.holds, func(h hold) bool { return h.method == r.Method && (!h.list || isListing(r)) }); i >= 0 {
		wait = s.holds[i].d
		s.holds = slices.Delete(s.holds, i, i+1)
	}
	s.mu.Unlock()
	time.Sleep(wait) // deliberately deaf to the client going away.
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	buf := &bufferedWriter{header: w.Header(), status: http.StatusOK}
	events := s.serve(buf, r)
	if s.OnRecord != nil {
		for _, e := range events {
			s.OnRecord(e.r, e.deleted)
		}
	}
	w.WriteHeader(buf.status)
	_, _ = w.Write(buf.body.Bytes())
}

// bufferedWriter holds an answer until the OnRecord calls are done.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(status int)      { b.status = status }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

// serve answers r into w under s.mu and returns the record changes made.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) []recordEvent {
	at := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	path := strings.TrimPrefix(r.URL.Path, "/client/v4")
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = nil
	defer func() {
		s.reqs = append(s.reqs, Request{
			At: at, Method: r.Method, Path: path, Query: r.URL.Query(),
			Authorization: r.Header.Get("Authorization"), Body: body, Status: rec.status,
		})
	}()

	seen := Request{At: at, Method: r.Method, Path: path, Query: r.URL.Query()}
	if i := slices.IndexFunc(s.fails, func(f failure) bool {
		if f.match != nil {
			return f.match(seen)
		}
		return f.method == "" || f.method == r.Method
	}); i >= 0 {
		f := s.fails[i]
		s.fails = slices.Delete(s.fails, i, i+1)
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		if f.err == (apiError{}) {
			f.err = failureError(f.status)
		}
		writeErr(rec, f.status, f.err)
		return nil
	}
	if r.Method == http.MethodGet && strings.Trim(path, "/") == "ips" {
		// Cloudflare's list is public: no token needed.
		s.serveIPs(rec)
		return nil
	}
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		writeErr(rec, http.StatusForbidden, apiError{10000, "Authentication error"})
		return nil
	case auth != "Bearer "+s.token:
		writeErr(rec, http.StatusForbidden, apiError{9109, "Invalid access token"})
		return nil
	}
	s.route(rec, r.Method, path, r.URL.Query(), body)
	events := s.events
	s.events = nil
	return events
}

func failureError(status int) apiError {
	switch {
	case status == http.StatusTooManyRequests:
		return apiError{971, "Please wait and consider throttling your request speed"}
	case status >= 500:
		return apiError{10001, "Service temporarily unavailable"}
	case status == http.StatusForbidden:
		return apiError{10000, "Authentication error"}
	default:
		return apiError{1000, http.StatusText(status)}
	}
}

func (s *Server) route(w http.ResponseWriter, method, path string, q url.Values, body []byte) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) == 3 && parts[0] == "user" && parts[1] == "tokens" && parts[2] == "verify" && method == http.MethodGet:
		writeOK(w, map[string]string{"id": "ed17574386854bf78a67040be0a770b0", "status": s.status}, nil)
	case len(parts) == 1 && parts[0] == "zones" && method == http.MethodGet:
		s.listZones(w, q)
	case len(parts) == 2 && parts[0] == "zones" && method == http.MethodGet:
		if parts[1] != s.zoneID {
			writeErr(w, http.StatusNotFound, apiError{7003, "Could not route to /zones/" + parts[1] + ", perhaps your object identifier is invalid?"})
			return
		}
		writeOK(w, s.zoneJSON(), nil)
	case len(parts) >= 3 && parts[0] == "zones" && parts[2] == "dns_records":
		if parts[1] != s.zoneID {
			writeErr(w, http.StatusNotFound, apiError{7003, "Could not route to /zones/" + parts[1] + "/dns_records, perhaps your object identifier is invalid?"})
			return
		}
		switch {
		case len(parts) == 3 && method == http.MethodGet:
			s.listRecords(w, q)
		case len(parts) == 3 && method == http.MethodPost:
			s.createRecord(w, body)
		case len(parts) == 4:
			s.oneRecord(w, method, parts[3], body)
		default:
			writeErr(w, http.StatusMethodNotAllowed, apiError{7001, "Method not allowed for this endpoint"})
		}
	case len(parts) == 1 && parts[0] == "certificates" && method == http.MethodPost:
		s.signCertificate(w, body)
	case len(parts) == 2 && parts[0] == "certificates" && (method == http.MethodGet || method == http.MethodDelete):
		c, ok := s.certs[parts[1]]
		if !ok {
			writeErr(w, http.StatusNotFound, apiError{1004, "Certificate not found"})
			return
		}
		if method == http.MethodDelete {
			c.RevokedAt = time.Now().UTC().Format(time.RFC3339)
			writeOK(w, map[string]string{"id": c.ID, "revoked_at": c.RevokedAt}, nil)
			return
		}
		writeOK(w, c, nil)
	default:
		writeErr(w, http.StatusNotFound, apiError{7000, "No route for that URI"})
	}
}

func (s *Server) zoneJSON() map[string]any {
	return map[string]any{
		"id": s.zoneID, "name": s.zone, "status": "active", "paused": false, "type": "full",
		"account":      map[string]string{"id": "0123456789abcdef0123456789abcdef", "name": "test account"},
		"name_servers": []string{"ada.ns.cloudflare.com", "bob.ns.cloudflare.com"},
	}
}

func (s *Server) listZones(w http.ResponseWriter, q url.Values) {
	var zones []any
	if name := q.Get("name"); name == "" || strings.EqualFold(name, s.zone) {
		zones = append(zones, s.zoneJSON())
	}
	page(w, zones, q)
}

func (s *Server) listRecords(w http.ResponseWriter, q url.Values) {
	match := func(v, filter string) bool { return filter == "" || strings.EqualFold(v, filter) }
	var out []any
	for _, r := range s.recs {
		if !match(r.Name, q.Get("name")) || !match(r.Name, q.Get("name.exact")) ||
			!match(r.Type, q.Get("type")) ||
			!match(r.Content, q.Get("content")) || !match(r.Content, q.Get("content.exact")) ||
			!match(r.Comment, q.Get("comment.exact")) {
			continue
		}
		if c := q.Get("name.contains"); c != "" && !strings.Contains(strings.ToLower(r.Name), strings.ToLower(c)) {
			continue
		}
		// Comment filters are case-insensitive, as Cloudflare's.
		if c := q.Get("comment.startswith"); c != "" && !strings.HasPrefix(strings.ToLower(r.Comment), strings.ToLower(c)) {
			continue
		}
		if c := q.Get("comment.contains"); c != "" && !strings.Contains(strings.ToLower(r.Comment), strings.ToLower(c)) {
			continue
		}
		out = append(out, *r)
	}
	page(w, out, q)
}

// recordBody is the JSON a client sends to create or change a record.
// Pointers tell absent fields from zero values, for PATCH.
type recordBody struct {
	Type    *string `json:"type"`
	Name    *string `json:"name"`
	Content *string `json:"content"`
	Proxied *bool   `json:"proxied"`
	TTL     *int    `json:"ttl"`
	Comment *string `json:"comment"`
}

func (b recordBody) apply(r *Record) {
	if b.Type != nil {
		r.Type = *b.Type
	}
	if b.Name != nil {
		r.Name = strings.ToLower(strings.TrimSuffix(*b.Name, "."))
	}
	if b.Content != nil {
		r.Content = *b.Content
	}
	if b.Proxied != nil {
		r.Proxied = *b.Proxied
	}
	if b.TTL != nil {
		r.TTL = *b.TTL
	}
	if b.Comment != nil {
		r.Comment = *b.Comment
	}
	if r.Proxied || r.TTL == 0 {
		r.TTL = 1 // Cloudflare forces automatic TTL on proxied records.
	}
	r.Proxiable = r.Type == "A" || r.Type == "AAAA" || r.Type == "CNAME"
}

// validate applies the checks of Cloudflare that matter here: a name in
// the zone, the fields A needs, and no A/AAAA/CNAME clash.
func (s *Server) validate(r *Record, self string) (int, apiError, bool) {
	if r.Type == "" || r.Name == "" || r.Content == "" {
		return http.StatusBadRequest, apiError{9000, "DNS name, type and content are required"}, false
	}
	if r.Name != s.zone && !strings.HasSuffix(r.Name, "."+s.zone) {
		return http.StatusBadRequest, apiError{9005, "Record name is not within the zone"}, false
	}
	if n := len([]rune(r.Comment)); n > s.limit {
		return http.StatusBadRequest, apiError{1004, fmt.Sprintf("DNS Validation Error: comment is %d characters, longer than the %d this zone's plan allows", n, s.limit)}, false
	}
	for _, o := range s.recs {
		if o.ID == self || o.Name != r.Name {
			continue
		}
		if o.Type == r.Type && o.Content == r.Content {
			return http.StatusBadRequest, apiError{81058, "An identical record already exists."}, false
		}
		if o.Type == "CNAME" || r.Type == "CNAME" {
			return http.StatusBadRequest, apiError{81053, "An A, AAAA, or CNAME record with that host already exists."}, false
		}
	}
	return 0, apiError{}, true
}

func (s *Server) createRecord(w http.ResponseWriter, body []byte) {
	var b recordBody
	if err := json.Unmarshal(body, &b); err != nil {
		writeErr(w, http.StatusBadRequest, apiError{9207, "Request body is invalid: " + err.Error()})
		return
	}
	r := &Record{}
	b.apply(r)
	if status, e, ok := s.validate(r, ""); !ok {
		writeErr(w, status, e)
		return
	}
	r.ID = s.newID()
	r.CreatedOn = time.Now().UTC()
	r.ModifiedOn = r.CreatedOn
	s.recs = append(s.recs, r)
	s.events = append(s.events, recordEvent{r: *r})
	writeOK(w, *r, nil)
}

func (s *Server) oneRecord(w http.ResponseWriter, method, id string, body []byte) {
	i := slices.IndexFunc(s.recs, func(r *Record) bool { return r.ID == id })
	if i < 0 {
		writeErr(w, http.StatusNotFound, apiError{81044, "Record does not exist."})
		return
	}
	switch method {
	case http.MethodGet:
		writeOK(w, *s.recs[i], nil)
	case http.MethodDelete:
		s.events = append(s.events, recordEvent{r: *s.recs[i], deleted: true})
		s.recs = slices.Delete(s.recs, i, i+1)
		writeOK(w, map[string]string{"id": id}, nil)
	case http.MethodPatch, http.MethodPut:
		var b recordBody
		if err := json.Unmarshal(body, &b); err != nil {
			writeErr(w, http.StatusBadRequest, apiError{9207, "Request body is invalid: " + err.Error()})
			return
		}
		next := *s.recs[i]
		if method == http.MethodPut {
			next = Record{ID: next.ID, CreatedOn: next.CreatedOn}
		}
		b.apply(&next)
		if status, e, ok := s.validate(&next, id); !ok {
			writeErr(w, status, e)
			return
		}
		next.ModifiedOn = time.Now().UTC()
		*s.recs[i] = next
		s.events = append(s.events, recordEvent{r: next})
		writeOK(w, next, nil)
	default:
		writeErr(w, http.StatusMethodNotAllowed, apiError{7001, "Method not allowed for this endpoint"})
	}
}

func (s *Server) newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes instead).
	return hex.EncodeToString(b[:])
}

func page[T any](w http.ResponseWriter, items []T, q url.Values) {
	per, _ := strconv.Atoi(q.Get("per_page"))
	if per <= 0 {
		per = 100
	}
	p, _ := strconv.Atoi(q.Get("page"))
	if p <= 0 {
		p = 1
	}
	total := len(items)
	lo := min((p-1)*per, total)
	hi := min(lo+per, total)
	result := items[lo:hi]
	if result == nil {
		result = []T{}
	}
	writeOK(w, result, &resultInfo{
		Page: p, PerPage: per, Count: hi - lo, TotalCount: total,
		TotalPages: max(1, (total+per-1)/per),
	})
}

func writeOK(w http.ResponseWriter, result any, info *resultInfo) {
	write(w, http.StatusOK, envelope{Success: true, Errors: []apiError{}, Messages: []apiError{}, Result: result, ResultInfo: info})
}

func writeErr(w http.ResponseWriter, status int, e apiError) {
	write(w, status, envelope{Success: false, Errors: []apiError{e}, Messages: []apiError{}, Result: nil})
}

func write(w http.ResponseWriter, status int, env envelope) {
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(env)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// newCA makes the double's Origin CA: a self-signed P-256 certificate.
func (s *Server) newCA() {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("cftest: generate CA key: %v", err)) // cannot happen: crypto/rand does not fail.
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"cftest"}, CommonName: "cftest Origin CA (test double)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(fmt.Sprintf("cftest: create CA certificate: %v", err))
	}
	s.ca, _ = x509.ParseCertificate(der)
	s.caKey = key
	s.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	s.serial = 1
}
