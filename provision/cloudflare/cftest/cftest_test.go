package cftest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"odoobot/provision/cloudflare/cftest"
)

type envelope struct {
	Success    bool              `json:"success"`
	Errors     []json.RawMessage `json:"errors"`
	Messages   []json.RawMessage `json:"messages"`
	Result     json.RawMessage   `json:"result"`
	ResultInfo *struct {
		Page       int `json:"page"`
		PerPage    int `json:"per_page"`
		Count      int `json:"count"`
		TotalCount int `json:"total_count"`
		TotalPages int `json:"total_pages"`
	} `json:"result_info"`
}

func do(t *testing.T, method, url, token, body string) (int, http.Header, envelope) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		t.Fatalf("%s %s: answer %s is not an envelope: %v", method, url, raw, err)
	}
	return res.StatusCode, res.Header, env
}

func TestEnvelopeAuthAndFailures(t *testing.T) {
	s := cftest.NewServer(t, "example.com", "tok")
	base := s.URL()

	status, _, env := do(t, "GET", base+"zones?name=example.com", "", "")
	if status != 403 || env.Success || !strings.Contains(string(env.Errors[0]), "10000") {
		t.Errorf("no token: %d %+v, want 403 with code 10000", status, env)
	}
	status, _, env = do(t, "GET", base+"zones?name=example.com", "wrong", "")
	if status != 403 || !strings.Contains(string(env.Errors[0]), "9109") {
		t.Errorf("wrong token: %d %+v, want 403 with code 9109", status, env)
	}

	status, _, env = do(t, "GET", base+"zones?name=example.com", "tok", "")
	if status != 200 || !env.Success || env.ResultInfo == nil || env.ResultInfo.TotalCount != 1 ||
		!strings.Contains(string(env.Result), s.ZoneID()) {
		t.Errorf("zones: %d %+v", status, env)
	}

	s.FailNext(429, 1, "0.5")
	status, hdr, _ := do(t, "GET", base+"zones", "tok", "")
	if status != 429 || hdr.Get("Retry-After") != "0.5" {
		t.Errorf("FailNext: %d Retry-After %q, want 429 and 0.5", status, hdr.Get("Retry-After"))
	}

	recs := base + "zones/" + s.ZoneID() + "/dns_records"
	status, _, env = do(t, "POST", recs, "tok", `{"type":"A","name":"a.example.com","content":"192.0.2.1","proxied":true,"ttl":300}`)
	if status != 200 {
		t.Fatalf("create: %d %+v", status, env)
	}
	var created cftest.Record
	_ = json.Unmarshal(env.Result, &created)
	if created.TTL != 1 || created.ID == "" {
		t.Errorf("created %+v: want an ID and TTL forced to 1 on a proxied record", created)
	}
	status, _, env = do(t, "POST", recs, "tok", `{"type":"CNAME","name":"a.example.com","content":"b.example.net"}`)
	if status != 400 || !strings.Contains(string(env.Errors[0]), "81053") {
		t.Errorf("CNAME beside A: %d %+v, want 400 81053", status, env)
	}
	s.AddRecord(cftest.Record{Type: "TXT", Name: "b.example.com", Content: "hello"})

	var got []cftest.Record
	_, _, env = do(t, "GET", recs+"?name.exact=a.example.com&per_page=50", "tok", "")
	_ = json.Unmarshal(env.Result, &got)
	if len(got) != 1 || got[0].ID != created.ID {
		t.Errorf("name.exact filter: %+v", got)
	}
	_, _, env = do(t, "GET", recs+"?type=TXT", "tok", "")
	_ = json.Unmarshal(env.Result, &got)
	if len(got) != 1 || got[0].Name != "b.example.com" {
		t.Errorf("type filter: %+v", got)
	}

	status, _, _ = do(t, "PATCH", recs+"/"+created.ID, "tok", `{"content":"192.0.2.2"}`)
	if status != 200 || s.Records()[0].Content != "192.0.2.2" {
		t.Errorf("patch: %d %+v", status, s.Records())
	}
	status, _, _ = do(t, "DELETE", recs+"/"+created.ID, "tok", "")
	if status != 200 || len(s.Records()) != 1 {
		t.Errorf("delete: %d %+v", status, s.Records())
	}

	var methods []string
	for _, r := range s.Requests() {
		methods = append(methods, r.Method)
	}
	want := []string{"GET", "GET", "GET", "GET", "POST", "POST", "GET", "GET", "PATCH", "DELETE"}
	if diff := cmp.Diff(methods, want); diff != "" {
		t.Errorf("recorded requests (-got +want):\n%s", diff)
	}
}

func TestVerifyCommentFiltersAndHold(t *testing.T) {
	s := cftest.NewServer(t, "example.com", "tok")
	base := s.URL()

	status, _, env := do(t, "GET", base+"user/tokens/verify", "tok", "")
	if status != 200 || !strings.Contains(string(env.Result), `"active"`) {
		t.Errorf("verify: %d %s, want an active token", status, env.Result)
	}
	s.SetTokenStatus("expired")
	if _, _, env = do(t, "GET", base+"user/tokens/verify", "tok", ""); !strings.Contains(string(env.Result), `"expired"`) {
		t.Errorf("verify after SetTokenStatus: %s, want expired", env.Result)
	}

	s.AddRecord(cftest.Record{Type: "A", Name: "a.example.com", Content: "192.0.2.1", Comment: "Managed-By: x 1"})
	s.AddRecord(cftest.Record{Type: "A", Name: "b.example.com", Content: "192.0.2.1", Comment: "other managed-by: x"})
	recs := base + "zones/" + s.ZoneID() + "/dns_records"
	var got []cftest.Record
	_, _, env = do(t, "GET", recs+"?comment.startswith=managed-by:%20x", "tok", "")
	_ = json.Unmarshal(env.Result, &got)
	if len(got) != 1 || got[0].Name != "a.example.com" {
		t.Errorf("comment.startswith (case-insensitive): %+v", got)
	}

	s.HoldNext("POST", 300*time.Millisecond)
	client := &http.Client{Timeout: 50 * time.Millisecond}
	req, _ := http.NewRequest("POST", recs, strings.NewReader(`{"type":"A","name":"late.example.com","content":"192.0.2.9"}`))
	req.Header.Set("Authorization", "Bearer tok")
	if res, err := client.Do(req); err == nil {
		res.Body.Close()
		t.Fatal("a held POST was answered within the client's timeout")
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(s.Records()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(s.Records()); n != 3 {
		t.Errorf("%d records after the held POST, want it applied late (3)", n)
	}
}

// HoldNextList delays only a listing of records, and answers what the
// zone holds when it is served.
func TestHoldNextList(t *testing.T) {
	srv := cftest.NewServer(t, "example.com", "tok")
	srv.HoldNextList(300 * time.Millisecond)
	get := func(path string) (time.Duration, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return time.Since(start), body
	}
	if d, _ := get("/zones?name=example.com"); d > 200*time.Millisecond {
		t.Errorf("a zone lookup took %s: held though not a listing", d)
	}
	done := make(chan []byte, 1)
	var d time.Duration
	go func() {
		var body []byte
		d, body = get("/zones/" + srv.ZoneID() + "/dns_records")
		done <- body
	}()
	time.Sleep(50 * time.Millisecond)
	srv.AddRecord(cftest.Record{Type: "A", Name: "late.example.com", Content: "192.0.2.1"})
	body := <-done
	if d < 300*time.Millisecond {
		t.Errorf("the listing took %s, want it held 300ms", d)
	}
	if !strings.Contains(string(body), "late.example.com") {
		t.Errorf("the held listing does not show a record added meanwhile: %s", body)
	}
}
