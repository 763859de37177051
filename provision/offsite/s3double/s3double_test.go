package s3double

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStartRefuses(t *testing.T) {
	for _, tc := range []struct{ addr, bucket string }{
		{"0.0.0.0:0", "offsite"},
		{"192.0.2.1:0", "offsite"},
		{"nonsense", "offsite"},
		{"127.0.0.1:0", "ab"},
		{"127.0.0.1:0", "Upper"},
		{"127.0.0.1:0", "a/b"},
	} {
		if s, err := Start(tc.addr, tc.bucket); err == nil {
			s.Close()
			t.Errorf("Start(%q, %q) served", tc.addr, tc.bucket)
		}
	}
}

// The double serves its bucket, answers 503 with S3's error while down,
// holds the requests for a prefix while told to, and says what it got.
func TestDouble(t *testing.T) {
	s, err := Start("127.0.0.1:0", "offsite")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := "s3:http://" + s.Addr() + "/offsite"; s.Repository() != want {
		t.Errorf("Repository() = %q, want %q", s.Repository(), want)
	}
	if err := s.Put("config", []byte("cfg")); err != nil {
		t.Fatal(err)
	}
	get := func(ctx context.Context, key string) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr()+"/offsite/"+key, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), nil
	}
	if code, body, err := get(context.Background(), "config"); err != nil || code != 200 || body != "cfg" {
		t.Errorf("GET config = %d %q %v", code, body, err)
	}
	s.SetDown(true)
	if code, body, err := get(context.Background(), "config"); err != nil || code != 503 || !strings.Contains(body, "<Code>ServiceUnavailable</Code>") {
		t.Errorf("GET config while down = %d %q %v", code, body, err)
	}
	s.SetDown(false)

	s.SetHang("data/")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, _, err := get(ctx, "data/00/00"); err == nil {
		t.Error("a request for a held key was answered")
	}
	s.SetHang("")
	if keys, err := s.Keys(""); err != nil || strings.Join(keys, " ") != "config" {
		t.Errorf("Keys = %v, %v", keys, err)
	}
	if got := strings.Join(s.Requests(), ","); got != "GET config,GET config,GET data/00/00" {
		t.Errorf("Requests = %s", got)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
